//! The demo every board runs: a four-digit counter whose digits a GAN generates, each with its
//! discriminator score, drawn with embedded-graphics onto any display. The same code renders the
//! scene on the host, so a test can compare an emulated screen with the host's pixel for pixel.
//!
//! Frame `f` shows the number `(START + f * STEP) % 10000`; the digit at position `i` is
//! generated from seed `SEEDS[i]` with its value as the class label, so a seed and a digit name
//! an image everywhere.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use embedded_graphics::mono_font::ascii::FONT_6X10;
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::pixelcolor::{Gray8, GrayColor};
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Alignment, Text};
use gan_infer::{Discriminator, Generator, Probability, RunError};

pub mod framebuffer;
pub use framebuffer::Framebuffer;

/// The counter's first value.
pub const START: u32 = 2026;
/// The counter's increment per frame.
pub const STEP: u32 = 1;
/// Seeds of the four digit positions.
pub const SEEDS: [u64; 4] = [11, 22, 33, 44];
/// Side of a generated digit.
pub const DIGIT: usize = 28;

/// The number frame `frame` shows.
pub fn counter_value(frame: u32) -> u32 {
    (START + frame.wrapping_mul(STEP)) % 10_000
}

/// The four decimal digits of `value`, most significant first.
pub fn digits_of(value: u32) -> [u8; 4] {
    [
        (value / 1000 % 10) as u8,
        (value / 100 % 10) as u8,
        (value / 10 % 10) as u8,
        (value % 10) as u8,
    ]
}

/// One frame's content.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame {
    /// The frame number.
    pub index: u32,
    /// The number shown.
    pub value: u32,
    /// Its digits.
    pub digits: [u8; 4],
    /// The discriminator's probability that each generated digit is real.
    pub scores: [Probability; 4],
    /// The generated images, 28x28 bytes each.
    pub images: [[u8; DIGIT * DIGIT]; 4],
}

/// Generates frame `index`: four digits with `g`, judged by `d`, in `arena`.
pub fn compute(
    index: u32,
    g: &Generator<'_>,
    d: &Discriminator<'_>,
    arena: &mut [u8],
) -> Result<Frame, RunError> {
    let value = counter_value(index);
    let digits = digits_of(value);
    let mut images = [[0u8; DIGIT * DIGIT]; 4];
    let mut scores = [Probability(0); 4];
    for i in 0..4 {
        g.generate(SEEDS[i], Some(digits[i]), arena, &mut images[i])?;
        scores[i] = d.score(&images[i], Some(digits[i]), arena)?;
    }
    Ok(Frame {
        index,
        value,
        digits,
        scores,
        images,
    })
}

/// A model ready to draw the counter: its generator and discriminator.
#[derive(Clone, Copy, Debug)]
pub struct Counter<'a> {
    /// The generator.
    pub generator: Generator<'a>,
    /// The discriminator.
    pub discriminator: Discriminator<'a>,
}

/// Why a model cannot draw the counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CounterError {
    /// The model file does not validate.
    Format(gan_infer::FormatError),
    /// It lacks a generator or a discriminator, or is not a 10-class 28x28 model.
    Unsuitable,
}

impl<'a> Counter<'a> {
    /// Validates `model` and checks it can draw the counter (10 classes, 28x28 digits, G and D).
    pub fn from_model(model: &'a [u8]) -> Result<Self, CounterError> {
        let m = gan_infer::Model::from_bytes(model).map_err(CounterError::Format)?;
        let (Some(generator), Some(discriminator)) = (m.generator(), m.discriminator()) else {
            return Err(CounterError::Unsuitable);
        };
        if generator.num_classes() != 10
            || generator.image_shape() != gan_infer::Shape::new(1, DIGIT as u16, DIGIT as u16)
        {
            return Err(CounterError::Unsuitable);
        }
        Ok(Counter {
            generator,
            discriminator,
        })
    }

    /// Scratch bytes a frame needs.
    pub fn arena_bytes(&self) -> usize {
        self.generator
            .arena_bytes()
            .max(self.discriminator.arena_bytes())
    }

    /// Frame `index` (see [`compute`]).
    pub fn frame(&self, index: u32, arena: &mut [u8]) -> Result<Frame, RunError> {
        compute(index, &self.generator, &self.discriminator, arena)
    }
}

#[cfg(feature = "defmt")]
impl Frame {
    /// Logs the frame's number, digits and scores (one defmt line).
    pub fn log(&self) {
        let s = &self.scores;
        defmt::info!(
            "frame {} value {} digits {=[u8]} scores% {=u8} {=u8} {=u8} {=u8}",
            self.index,
            self.value,
            self.digits[..],
            s[0].percent(),
            s[1].percent(),
            s[2].percent(),
            s[3].percent()
        );
    }
}

/// Left edge of digit `i` on a 128-pixel-wide display.
pub const fn digit_x(i: usize) -> i32 {
    4 + 31 * i as i32
}

/// Draws a frame: the four digits in a row at the top, each score (percent) under its digit,
/// and the frame number at the bottom. Fits 128 x 64; wider displays get it at the left.
pub fn draw<D>(target: &mut D, frame: &Frame) -> Result<(), D::Error>
where
    D: DrawTarget,
    D::Color: From<Gray8> + GrayColor,
{
    target.clear(D::Color::BLACK)?;
    let style = MonoTextStyle::new(&FONT_6X10, D::Color::WHITE);
    for i in 0..4 {
        gan_infer::graphics::draw_gray_image(
            target,
            &frame.images[i],
            DIGIT as u32,
            DIGIT as u32,
            Point::new(digit_x(i), 2),
            1,
        )?;
        let mut buf = [0u8; 4];
        let text = percent_text(frame.scores[i].percent(), &mut buf);
        Text::with_alignment(
            text,
            Point::new(digit_x(i) + 14, 42),
            style,
            Alignment::Center,
        )
        .draw(target)?;
    }
    let mut buf = [0u8; 12];
    let label = frame_text(frame.index, &mut buf);
    Text::new(label, Point::new(4, 58), style).draw(target)?;
    Ok(())
}

fn percent_text(p: u8, buf: &mut [u8; 4]) -> &str {
    let mut n = 0;
    if p >= 100 {
        buf[0] = b'1';
        buf[1] = b'0';
        buf[2] = b'0';
        n = 3;
    } else {
        if p >= 10 {
            buf[n] = b'0' + p / 10;
            n += 1;
        }
        buf[n] = b'0' + p % 10;
        n += 1;
    }
    buf[n] = b'%';
    core::str::from_utf8(&buf[..n + 1]).unwrap_or("?")
}

fn frame_text(index: u32, buf: &mut [u8; 12]) -> &str {
    buf[..6].copy_from_slice(b"frame ");
    let mut digits = [0u8; 10];
    let (mut v, mut k) = (index, 0);
    loop {
        digits[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 || k == 6 {
            break;
        }
    }
    for j in 0..k {
        buf[6 + j] = digits[k - 1 - j];
    }
    core::str::from_utf8(&buf[..6 + k]).unwrap_or("frame ?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_digits() {
        assert_eq!(digits_of(2026), [2, 0, 2, 6]);
        assert_eq!(digits_of(7), [0, 0, 0, 7]);
        assert_eq!(counter_value(1), 2027);
        let mut b = [0u8; 4];
        assert_eq!(percent_text(7, &mut b), "7%");
        assert_eq!(percent_text(93, &mut b), "93%");
        assert_eq!(percent_text(100, &mut b), "100%");
        let mut f = [0u8; 12];
        assert_eq!(frame_text(0, &mut f), "frame 0");
        assert_eq!(frame_text(1234, &mut f), "frame 1234");
    }
}
