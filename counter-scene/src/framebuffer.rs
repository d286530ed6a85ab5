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

/// 4x4 Bayer matrix: ordered-dither thresholds (0..15) for monochrome displays.
const BAYER4: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

impl Framebuffer {
    /// Whether pixel (x, y) is lit on a monochrome display: its gray level against an ordered
    /// (4x4 Bayer) dither threshold, so the 16 gray levels survive as pixel density.
    pub fn dithered_on(&self, x: usize, y: usize) -> bool {
        self.level(x, y) > BAYER4[y % 4][x % 4]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dither_density_follows_gray_level() {
        let mut fb = Framebuffer::new();
        for lvl in 0..16u8 {
            fb.bytes.fill(lvl << 4 | lvl);
            let on = (0..4)
                .flat_map(|y| (0..4).map(move |x| (x, y)))
                .filter(|&(x, y)| fb.dithered_on(x, y))
                .count();
            assert_eq!(on, lvl as usize, "level {lvl}");
        }
    }
}
