//! The runtime: a validated [`Model`], and its [`Generator`] and [`Discriminator`].
//!
//! **Arena.** A forward pass needs one caller-owned scratch buffer. The network input is
//! written at the front; each layer reads its input from one end of the arena and writes its
//! output at the other end, so the ends swap every layer (ping-pong). Layer `i` needs
//! `(in_i + out_i) * e` bytes (`e` = 1 for int8, 4 for f16/f32, which compute in f32), so the
//! arena is exactly `max(input * e, max_i (in_i + out_i) * e)`, the largest pair of live
//! activations. The file records it (`arena_bytes`), so firmware sizes a static exactly.

use crate::error::{FormatError, RunError};
use crate::format::{
    parse, power_of_two_exponent, Layer, ModelDesc, NetworkDesc, Op, Precision, Shape,
};
use crate::kernels::{run_op, F16Weights, F32Weights, FloatArith, I8Arith};
use crate::latent::LatentSampler;

/// A validated model file, borrowing its bytes (which may stay in flash).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Model<'a> {
    desc: ModelDesc<'a>,
}

impl<'a> Model<'a> {
    /// Parses and validates a model file: header, CRC-32, every layer's shapes, weight lengths,
    /// quantization parameters, the chain of layers and the declared arena. Any byte string
    /// gives `Ok` or a [`FormatError`]; it never panics. After this, a forward pass cannot fail
    /// on the model's account.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, FormatError> {
        parse(bytes).map(|desc| Model { desc })
    }

    /// The decoded payload (layers are decoded lazily through [`NetworkDesc::layers`]).
    pub fn desc(&self) -> &ModelDesc<'a> {
        &self.desc
    }

    /// The model's name.
    pub fn name(&self) -> &'a str {
        self.desc.name
    }

    /// The generator, if the file has one.
    pub fn generator(&self) -> Option<Generator<'a>> {
        self.desc.generator.map(|net| Generator { net })
    }

    /// The discriminator, if the file has one.
    pub fn discriminator(&self) -> Option<Discriminator<'a>> {
        self.desc.discriminator.map(|net| Discriminator { net })
    }
}

/// A generator: latent (and class label) in, image out.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Generator<'a> {
    net: NetworkDesc<'a>,
}

/// A discriminator: image (and class label) in, probability of "real" out.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Discriminator<'a> {
    net: NetworkDesc<'a>,
}

/// A discriminator's verdict: the probability that the image is real, in Q16
/// (`probability = q16 / 65536`). int8 models give multiples of 1/256, computed integer-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Probability(pub u16);

impl Probability {
    /// The raw Q16 value.
    pub const fn q16(self) -> u16 {
        self.0
    }
    /// Rounded percent, 0..=100 (integer arithmetic).
    pub const fn percent(self) -> u8 {
        ((self.0 as u32 * 100 + 32768) >> 16) as u8
    }
    /// As a float in `[0, 1)`.
    pub fn to_f32(self) -> f32 {
        self.0 as f32 / 65536.0
    }
}

fn label_index(net: &NetworkDesc<'_>, label: Option<u8>) -> Result<Option<usize>, RunError> {
    let classes = net.num_classes;
    match label {
        None if classes == 0 => Ok(None),
        Some(l) if (l as u16) < classes => Ok(Some(l as usize)),
        _ => Err(RunError::BadLabel {
            label: label.unwrap_or(u8::MAX),
            classes,
        }),
    }
}

fn put_f32(buf: &mut [u8], i: usize, v: f32) {
    buf[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
}

fn get_f32(buf: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]])
}

fn run_layer(
    precision: Precision,
    layer: &Layer<'_>,
    x: &[u8],
    out: &mut [u8],
) -> Result<(), RunError> {
    let (w, bias, activation) = (layer.weights, layer.bias, layer.activation);
    match (precision, layer.quant) {
        (Precision::I8, Some(quant)) => {
            let a = I8Arith {
                x,
                w,
                bias,
                quant,
                activation,
            };
            run_op(layer.op, layer.input, layer.output, &a, out);
        }
        (Precision::F16, None) => {
            let a = FloatArith {
                x,
                w: F16Weights(w),
                bias,
                activation,
            };
            run_op(layer.op, layer.input, layer.output, &a, out);
        }
        (Precision::F32, None) => {
            let a = FloatArith {
                x,
                w: F32Weights(w),
                bias,
                activation,
            };
            run_op(layer.op, layer.input, layer.output, &a, out);
        }
        _ => return Err(RunError::Corrupt),
    }
    Ok(())
}

/// Runs a network in `arena`: `fill` writes the input at the front; returns the byte range of
/// the output inside the arena.
fn forward(
    net: &NetworkDesc<'_>,
    arena: &mut [u8],
    fill: impl FnOnce(&mut [u8]),
) -> Result<core::ops::Range<usize>, RunError> {
    let need = net.arena_bytes as usize;
    if arena.len() < need {
        return Err(RunError::ArenaTooSmall {
            needed: need,
            got: arena.len(),
        });
    }
    let arena = &mut arena[..need];
    let e = net.precision.activation_bytes();
    let mut in_len = net.input.len() * e;
    fill(&mut arena[..in_len]);
    let mut at_front = true;
    for layer in net.layers() {
        let layer = layer.map_err(|_| RunError::Corrupt)?;
        if layer.op == Op::Reshape {
            continue;
        }
        let out_len = layer.output.len() * e;
        if in_len + out_len > need {
            return Err(RunError::Corrupt);
        }
        if at_front {
            let (x, out) = arena.split_at_mut(need - out_len);
            run_layer(net.precision, &layer, &x[..in_len], out)?;
        } else {
            let (out, x) = arena.split_at_mut(need - in_len);
            run_layer(net.precision, &layer, x, &mut out[..out_len])?;
        }
        at_front = !at_front;
        in_len = out_len;
    }
    Ok(if at_front {
        0..in_len
    } else {
        need - in_len..need
    })
}

impl<'a> Generator<'a> {
    /// Scratch bytes [`generate`](Self::generate) needs (exactly; see the module docs).
    pub fn arena_bytes(&self) -> usize {
        self.net.arena_bytes as usize
    }
    /// Latent length.
    pub fn latent_dim(&self) -> usize {
        self.net.latent_dim as usize
    }
    /// Number of classes (0 = unconditional: pass `None` as label).
    pub fn num_classes(&self) -> u16 {
        self.net.num_classes
    }
    /// Precision of the weights.
    pub fn precision(&self) -> Precision {
        self.net.precision
    }
    /// Shape of the generated image (CHW).
    pub fn image_shape(&self) -> Shape {
        // Validated: the last layer exists and outputs the image.
        self.net
            .layers()
            .flatten()
            .last()
            .map(|l| l.output)
            .unwrap_or(Shape::new(0, 0, 0))
    }
    /// The network's description (layers, quantization).
    pub fn desc(&self) -> &NetworkDesc<'a> {
        &self.net
    }

    /// Generates the image named by `seed` (and `label` for a conditional model) into `image`
    /// (CHW, one byte per pixel, 0 = black = -1.0, 255 = white = +1.0).
    /// The latent is [`LatentSampler::new(seed)`](LatentSampler)'s first `latent_dim` values.
    pub fn generate(
        &self,
        seed: u64,
        label: Option<u8>,
        arena: &mut [u8],
        image: &mut [u8],
    ) -> Result<(), RunError> {
        let mut sampler = LatentSampler::new(seed);
        self.run(label, arena, image, |_| sampler.next_q12())
    }

    /// Like [`generate`](Self::generate) with an explicit latent in Q12 (`real = v / 4096`).
    pub fn generate_from_latent(
        &self,
        latent_q12: &[i32],
        label: Option<u8>,
        arena: &mut [u8],
        image: &mut [u8],
    ) -> Result<(), RunError> {
        if latent_q12.len() != self.latent_dim() {
            return Err(RunError::BufferLength {
                needed: self.latent_dim(),
                got: latent_q12.len(),
            });
        }
        self.run(label, arena, image, |i| latent_q12[i])
    }

    fn run(
        &self,
        label: Option<u8>,
        arena: &mut [u8],
        image: &mut [u8],
        mut latent: impl FnMut(usize) -> i32,
    ) -> Result<(), RunError> {
        let net = &self.net;
        let class = label_index(net, label)?;
        let n_pixels = self.image_shape().len();
        if image.len() != n_pixels {
            return Err(RunError::BufferLength {
                needed: n_pixels,
                got: image.len(),
            });
        }
        let zdim = self.latent_dim();
        let precision = net.precision;
        let frac = net
            .input_quant
            .and_then(|q| power_of_two_exponent(q.scale))
            .unwrap_or(0) as u32;
        let one_hot_q = net.one_hot_q;
        let out = forward(net, arena, |input| {
            for i in 0..net.input.c as usize {
                let hot = class == Some(i.wrapping_sub(zdim));
                match precision {
                    Precision::I8 => {
                        input[i] = if i < zdim {
                            // Q12 -> scale 2^-frac: a rounding shift.
                            let v = latent(i);
                            let q = if frac >= 12 {
                                v << (frac - 12)
                            } else {
                                (v + (1 << (11 - frac))) >> (12 - frac)
                            };
                            q.clamp(-128, 127) as i8 as u8
                        } else if hot {
                            one_hot_q as u8
                        } else {
                            0
                        };
                    }
                    Precision::F16 | Precision::F32 => {
                        let v = if i < zdim {
                            latent(i) as f32 / 4096.0
                        } else if hot {
                            1.0
                        } else {
                            0.0
                        };
                        put_f32(input, i, v);
                    }
                }
            }
        })?;
        let y = &arena[out];
        for (i, px) in image.iter_mut().enumerate() {
            *px = match precision {
                // Output scale 1/128, zero point 0 (validated): pixel = q + 128.
                Precision::I8 => (y[i] as i8 as i16 + 128) as u8,
                Precision::F16 | Precision::F32 => {
                    let v = (get_f32(y, i) + 1.0) * 127.5 + 0.5;
                    if v >= 255.0 {
                        255
                    } else if v > 0.0 {
                        v as u8
                    } else {
                        0
                    }
                }
            };
        }
        Ok(())
    }
}

impl<'a> Discriminator<'a> {
    /// Scratch bytes [`score`](Self::score) needs.
    pub fn arena_bytes(&self) -> usize {
        self.net.arena_bytes as usize
    }
    /// Number of classes (0 = unconditional).
    pub fn num_classes(&self) -> u16 {
        self.net.num_classes
    }
    /// Precision of the weights.
    pub fn precision(&self) -> Precision {
        self.net.precision
    }
    /// Shape of the image it judges (CHW).
    pub fn image_shape(&self) -> Shape {
        Shape::new(
            self.net.input.c - self.net.num_classes,
            self.net.input.h,
            self.net.input.w,
        )
    }
    /// The network's description.
    pub fn desc(&self) -> &NetworkDesc<'a> {
        &self.net
    }

    /// The probability that `image` (CHW bytes as [`Generator::generate`] writes them) is a
    /// real example of class `label`.
    pub fn score(
        &self,
        image: &[u8],
        label: Option<u8>,
        arena: &mut [u8],
    ) -> Result<Probability, RunError> {
        let net = &self.net;
        let class = label_index(net, label)?;
        let n_pixels = self.image_shape().len();
        if image.len() != n_pixels {
            return Err(RunError::BufferLength {
                needed: n_pixels,
                got: image.len(),
            });
        }
        let plane = net.input.h as usize * net.input.w as usize;
        let precision = net.precision;
        let one_hot_q = net.one_hot_q;
        let out = forward(net, arena, |input| {
            let total = net.input.len();
            for i in 0..total {
                let hot = i >= n_pixels && class == Some((i - n_pixels) / plane);
                match precision {
                    Precision::I8 => {
                        input[i] = if i < n_pixels {
                            (image[i] as i16 - 128) as i8 as u8
                        } else if hot {
                            one_hot_q as u8
                        } else {
                            0
                        };
                    }
                    Precision::F16 | Precision::F32 => {
                        let v = if i < n_pixels {
                            image[i] as f32 / 127.5 - 1.0
                        } else if hot {
                            1.0
                        } else {
                            0.0
                        };
                        put_f32(input, i, v);
                    }
                }
            }
        })?;
        let y = &arena[out];
        Ok(Probability(match precision {
            // Sigmoid table output: scale 1/256, zero point -128 (validated).
            Precision::I8 => ((y[0] as i8 as i16 + 128) as u16) << 8,
            Precision::F16 | Precision::F32 => {
                let p = get_f32(y, 0) * 65536.0;
                if p >= 65535.0 {
                    65535
                } else if p > 0.0 {
                    p as u16
                } else {
                    0
                }
            }
        }))
    }
}
