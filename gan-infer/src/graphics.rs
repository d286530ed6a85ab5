//! Drawing generated images with embedded-graphics (feature `graphics`).
//!
//! Any `DrawTarget` whose color converts from `Gray8` works: Gray4 OLEDs, Rgb565 LCDs,
//! monochrome panels (through `BinaryColor`'s conversion), simulators.

use embedded_graphics_core::draw_target::DrawTarget;
use embedded_graphics_core::geometry::{Point, Size};
use embedded_graphics_core::pixelcolor::Gray8;
use embedded_graphics_core::primitives::Rectangle;

/// Draws a `width` x `height` one-byte-per-pixel gray image (as [`crate::Generator::generate`]
/// writes it) with its top-left corner at `top_left`, each pixel as a `scale` x `scale` block.
/// Uses `fill_contiguous`, so drivers with a fast rectangular path use it.
pub fn draw_gray_image<D>(
    target: &mut D,
    pixels: &[u8],
    width: u32,
    height: u32,
    top_left: Point,
    scale: u32,
) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Gray8>,
{
    let scale = scale.max(1);
    let (w, h) = (width as usize, height as usize);
    let area = Rectangle::new(top_left, Size::new(width * scale, height * scale));
    let s = scale as usize;
    let colors = (0..h * s).flat_map(move |row| {
        (0..w * s).map(move |col| {
            let v = pixels.get((row / s) * w + col / s).copied().unwrap_or(0);
            D::Color::from(Gray8::new(v))
        })
    });
    target.fill_contiguous(&area, colors)
}
