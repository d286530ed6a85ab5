//! A 128 x 64 framebuffer of 16 gray levels in the SSD0323's memory layout: 2 pixels a byte,
//! the left pixel in the high nibble, rows of 64 bytes. Sending its 4,096 bytes after the
//! column (0..63) and row (0..63) window commands fills the whole screen.

use embedded_graphics::pixelcolor::{Gray4, GrayColor};
use embedded_graphics::prelude::*;

/// Width in pixels.
pub const WIDTH: usize = 128;
/// Height in pixels.
pub const HEIGHT: usize = 64;

/// The screen contents, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    /// `WIDTH * HEIGHT / 2` bytes.
    pub bytes: [u8; WIDTH * HEIGHT / 2],
}

impl Default for Framebuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framebuffer {
    /// A black screen.
    pub const fn new() -> Self {
        Framebuffer {
            bytes: [0; WIDTH * HEIGHT / 2],
        }
    }

    /// The gray level (0..=15) of pixel (x, y).
    pub fn level(&self, x: usize, y: usize) -> u8 {
        let b = self.bytes[y * WIDTH / 2 + x / 2];
        if x % 2 == 0 {
            b >> 4
        } else {
            b & 0x0F
        }
    }
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, HEIGHT as u32)
    }
}

impl DrawTarget for Framebuffer {
    type Color = Gray4;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, c) in pixels {
            if p.x < 0 || p.y < 0 || p.x >= WIDTH as i32 || p.y >= HEIGHT as i32 {
                continue;
            }
            let (x, y) = (p.x as usize, p.y as usize);
            let i = y * WIDTH / 2 + x / 2;
            let l = c.luma() & 0x0F;
            self.bytes[i] = if x % 2 == 0 {
                (self.bytes[i] & 0x0F) | (l << 4)
            } else {
                (self.bytes[i] & 0xF0) | l
            };
        }
        Ok(())
    }
}
