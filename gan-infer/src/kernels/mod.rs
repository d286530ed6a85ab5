//! The operators, one file each. Every file states its math, holds its kernel and, in its
//! tests, a plain reference written independently of the kernel.
//!
//! A kernel is written once over [`Arith`], which says how one precision multiplies a tap in
//! and stores an output: [`I8Arith`] (int32 accumulators, integer requantization) and
//! [`FloatArith`] (f32, with f32 or f16 weights). Activations live in byte buffers (the
//! caller's arena): int8 as one byte each, f32 as four little-endian bytes each, so no
//! alignment is needed and no `unsafe` is used.

pub mod conv2d;
pub mod conv_transpose2d;
pub mod linear;

pub use conv2d::conv2d;
pub use conv_transpose2d::conv_transpose2d;
pub use linear::linear;

use crate::format::{Activation, LayerQuant};
use crate::quant::{le_f32, le_i32, ChannelStage};

/// Geometry of a convolution (both kinds), all sizes in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Input height and width.
    pub ih: usize,
    /// Input width.
    pub iw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub pad: usize,
}

impl ConvGeometry {
    /// The geometry of a convolution (either kind) from its input and output shapes.
    pub fn from_shapes(
        input: crate::format::Shape,
        output: crate::format::Shape,
        k: u8,
        stride: u8,
        pad: u8,
    ) -> Self {
        ConvGeometry {
            cin: input.c as usize,
            cout: output.c as usize,
            ih: input.h as usize,
            iw: input.w as usize,
            oh: output.h as usize,
            ow: output.w as usize,
            k: k as usize,
            stride: stride as usize,
            pad: pad as usize,
        }
    }
}

/// Runs one layer's operator (`Reshape` is a no-op: the data stays where it is).
pub fn run_op<A: Arith>(
    op: crate::format::Op,
    input: crate::format::Shape,
    output: crate::format::Shape,
    a: &A,
    out: &mut [u8],
) {
    use crate::format::Op;
    match op {
        Op::Linear => linear(out, a, input.len(), output.len()),
        Op::Conv2d {
            kernel,
            stride,
            padding,
        } => conv2d(
            out,
            a,
            &ConvGeometry::from_shapes(input, output, kernel, stride, padding),
        ),
        Op::ConvTranspose2d {
            kernel,
            stride,
            padding,
            ..
        } => conv_transpose2d(
            out,
            a,
            &ConvGeometry::from_shapes(input, output, kernel, stride, padding),
        ),
        Op::Reshape => {}
    }
}

/// The arithmetic of one precision. `x` (the input) and `w` (the weights) are held by the
/// implementation; kernels pass element indices.
pub trait Arith {
    /// Accumulator type.
    type Acc: Copy;
    /// Per output channel constants (bias, output stage).
    type Channel;
    /// Reads the constants of output channel `oc`.
    fn channel(&self, oc: usize) -> Self::Channel;
    /// The accumulator's start value (the bias).
    fn start(ch: &Self::Channel) -> Self::Acc;
    /// `acc + Σ_{i<n} x[x0 + i] * w[w0 + i]`.
    fn mac_run(&self, acc: Self::Acc, x0: usize, w0: usize, n: usize) -> Self::Acc;
    /// `acc + Σ_{i<n} x[x0 + i*xs] * w[w0 + i*ws]` (strided runs, e.g. over input channels).
    fn mac_strided(
        &self,
        acc: Self::Acc,
        x0: usize,
        xs: usize,
        w0: usize,
        ws: usize,
        n: usize,
    ) -> Self::Acc;
    /// Applies the activation and writes output element `o`.
    fn store(ch: &Self::Channel, out: &mut [u8], o: usize, acc: Self::Acc);
}

/// int8 arithmetic: `acc (i32) = bias + Σ (x - z_in) * w`, then [`ChannelStage`].
#[derive(Clone, Copy, Debug)]
pub struct I8Arith<'a> {
    /// Input activations, int8 stored as bytes.
    pub x: &'a [u8],
    /// Weights, int8 stored as bytes.
    pub w: &'a [u8],
    /// Biases, i32 LE.
    pub bias: &'a [u8],
    /// The layer's quantization.
    pub quant: LayerQuant<'a>,
    /// The layer's activation.
    pub activation: Activation,
}

impl<'a> Arith for I8Arith<'a> {
    type Acc = i32;
    type Channel = (i32, ChannelStage<'a>);

    fn channel(&self, oc: usize) -> Self::Channel {
        let q = &self.quant;
        let (m, n) = (le_i32(q.multiplier, oc), q.shift[oc]);
        let (m_neg, n_neg) = match self.activation {
            Activation::LeakyRelu { .. } => (le_i32(q.neg_multiplier, oc), q.neg_shift[oc]),
            _ => (m, n),
        };
        let zero_point = q.requant_zero_point as i32;
        let lo = match self.activation {
            Activation::Relu => zero_point.max(-128),
            _ => -128,
        };
        let lut = match self.activation {
            Activation::Tanh | Activation::Sigmoid => Some(q.lut),
            _ => None,
        };
        let stage = ChannelStage {
            m,
            n,
            m_neg,
            n_neg,
            zero_point,
            lo,
            lut,
        };
        (le_i32(self.bias, oc), stage)
    }

    #[inline(always)]
    fn start(ch: &Self::Channel) -> i32 {
        ch.0
    }

    #[inline(always)]
    fn mac_run(&self, acc: i32, x0: usize, w0: usize, n: usize) -> i32 {
        let zp = self.quant.input.zero_point as i32;
        let xs = &self.x[x0..x0 + n];
        let ws = &self.w[w0..w0 + n];
        xs.iter().zip(ws).fold(acc, |a, (&x, &w)| {
            a.wrapping_add((x as i8 as i32 - zp) * (w as i8 as i32))
        })
    }

    #[inline(always)]
    fn mac_strided(&self, acc: i32, x0: usize, xs: usize, w0: usize, ws: usize, n: usize) -> i32 {
        let zp = self.quant.input.zero_point as i32;
        // Iterators over the strided runs: one range check up front, none per element.
        let xi = self.x[x0..].iter().step_by(xs).take(n);
        let wi = self.w[w0..].iter().step_by(ws).take(n);
        xi.zip(wi).fold(acc, |a, (&x, &w)| {
            a.wrapping_add((x as i8 as i32 - zp) * (w as i8 as i32))
        })
    }

    #[inline(always)]
    fn store(ch: &Self::Channel, out: &mut [u8], o: usize, acc: i32) {
        out[o] = ch.1.apply(acc) as u8;
    }
}

/// Stored float weights.
pub trait FloatWeights: Copy {
    /// Weight `i` as f32.
    fn get(&self, i: usize) -> f32;
}

/// f32 weights, little-endian bytes.
#[derive(Clone, Copy, Debug)]
pub struct F32Weights<'a>(pub &'a [u8]);

impl FloatWeights for F32Weights<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        le_f32(self.0, i)
    }
}

/// IEEE half weights, little-endian bytes.
#[derive(Clone, Copy, Debug)]
pub struct F16Weights<'a>(pub &'a [u8]);

impl FloatWeights for F16Weights<'_> {
    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        half::f16::from_bits(u16::from_le_bytes([self.0[2 * i], self.0[2 * i + 1]])).to_f32()
    }
}

/// Float arithmetic: f32 activations (LE bytes), f32 accumulation, weights `W`.
#[derive(Clone, Copy, Debug)]
pub struct FloatArith<'a, W> {
    /// Input activations, f32 LE.
    pub x: &'a [u8],
    /// Weights.
    pub w: W,
    /// Biases, f32 LE.
    pub bias: &'a [u8],
    /// The layer's activation.
    pub activation: Activation,
}

/// Applies a float activation.
#[inline(always)]
pub fn activate_f32(activation: Activation, y: f32) -> f32 {
    match activation {
        Activation::Identity => y,
        Activation::Relu => y.max(0.0),
        Activation::LeakyRelu { slope } => {
            if y < 0.0 {
                y * slope
            } else {
                y
            }
        }
        Activation::Tanh => libm::tanhf(y),
        Activation::Sigmoid => 1.0 / (1.0 + libm::expf(-y)),
    }
}

impl<W: FloatWeights> Arith for FloatArith<'_, W> {
    type Acc = f32;
    type Channel = (f32, Activation);

    fn channel(&self, oc: usize) -> Self::Channel {
        (le_f32(self.bias, oc), self.activation)
    }

    #[inline(always)]
    fn start(ch: &Self::Channel) -> f32 {
        ch.0
    }

    #[inline(always)]
    fn mac_run(&self, acc: f32, x0: usize, w0: usize, n: usize) -> f32 {
        let xs = &self.x[4 * x0..4 * (x0 + n)];
        xs.chunks_exact(4).enumerate().fold(acc, |a, (i, c)| {
            a + f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * self.w.get(w0 + i)
        })
    }

    #[inline(always)]
    fn mac_strided(&self, acc: f32, x0: usize, xs: usize, w0: usize, ws: usize, n: usize) -> f32 {
        (0..n).fold(acc, |a, i| {
            a + le_f32(self.x, x0 + i * xs) * self.w.get(w0 + i * ws)
        })
    }

    #[inline(always)]
    fn store(ch: &Self::Channel, out: &mut [u8], o: usize, acc: f32) {
        out[4 * o..4 * o + 4].copy_from_slice(&activate_f32(ch.1, acc).to_le_bytes());
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Random layers and plain references shared by the kernel tests.
    extern crate std;
    use std::vec::Vec;

    use crate::format::{Activation, LayerQuant, TensorQuant};
    use crate::quant::quantize_multiplier;

    /// xorshift64*: deterministic test data without a dependency.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        pub fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + self.below(hi - lo + 1)
        }
        pub fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
        pub fn i8(&mut self) -> i8 {
            self.next() as u8 as i8
        }
    }

    /// Everything an int8 layer needs, owned.
    pub struct I8Case {
        pub x: Vec<u8>,
        pub w: Vec<u8>,
        pub bias: Vec<u8>,
        pub mult: Vec<u8>,
        pub shift: Vec<u8>,
        pub neg_mult: Vec<u8>,
        pub neg_shift: Vec<u8>,
        pub lut: Vec<u8>,
        pub s_in: f64,
        pub s_w: Vec<f64>,
        pub s_out: f64,
        pub z_in: i8,
        pub z_out: i8,
        pub activation: Activation,
    }

    pub const ACTIVATIONS: [Activation; 4] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.2 },
        Activation::Tanh,
    ];

    impl I8Case {
        /// Random int8 layer: `n_x` inputs, `n_w` weights, `cout` channels, fan-in `fan_in`.
        pub fn random(
            rng: &mut Rng,
            n_x: usize,
            n_w: usize,
            cout: usize,
            fan_in: usize,
            activation: Activation,
        ) -> Self {
            let x: Vec<u8> = (0..n_x).map(|_| rng.i8() as u8).collect();
            let w: Vec<u8> = (0..n_w).map(|_| rng.i8() as u8).collect();
            let s_in = 0.02 + 0.01 * rng.uniform().abs();
            let s_w: Vec<f64> = (0..cout)
                .map(|_| 0.001 + 0.004 * rng.uniform().abs())
                .collect();
            // Output scale covering a typical accumulator range (+-3 sigma).
            let sigma = (fan_in as f64).sqrt() * 128.0 * 74.0;
            let s_out = 3.0 * sigma * s_in * s_w[0] / 127.0;
            let z_in = (rng.below(41) as i32 - 20) as i8;
            let z_out = match activation {
                Activation::Relu => -128,
                _ => (rng.below(21) as i32 - 10) as i8,
            };
            let bias = s_w
                .iter()
                .flat_map(|_| ((rng.uniform() * sigma) as i32).to_le_bytes())
                .collect();
            let mut mult = Vec::new();
            let mut shift = Vec::new();
            let mut neg_mult = Vec::new();
            let mut neg_shift = Vec::new();
            for &sw in &s_w {
                let (m, n) = quantize_multiplier(s_in * sw / s_out);
                mult.extend_from_slice(&m.to_le_bytes());
                shift.push(n);
                if let Activation::LeakyRelu { slope } = activation {
                    let (m, n) = quantize_multiplier(slope as f64 * s_in * sw / s_out);
                    neg_mult.extend_from_slice(&m.to_le_bytes());
                    neg_shift.push(n);
                }
            }
            let lut = match activation {
                Activation::Tanh | Activation::Sigmoid => (0..256)
                    .map(|i| {
                        let real = s_out * (i as f64 - 128.0 - z_out as f64);
                        ((real.tanh() * 128.0).round().clamp(-128.0, 127.0) as i8) as u8
                    })
                    .collect(),
                _ => Vec::new(),
            };
            I8Case {
                x,
                w,
                bias,
                mult,
                shift,
                neg_mult,
                neg_shift,
                lut,
                s_in,
                s_w,
                s_out,
                z_in,
                z_out,
                activation,
            }
        }

        pub fn quant(&self) -> LayerQuant<'_> {
            LayerQuant {
                input: TensorQuant {
                    scale: self.s_in as f32,
                    zero_point: self.z_in,
                },
                output: TensorQuant {
                    scale: self.s_out as f32,
                    zero_point: self.z_out,
                },
                requant_zero_point: self.z_out,
                multiplier: &self.mult,
                shift: &self.shift,
                neg_multiplier: &self.neg_mult,
                neg_shift: &self.neg_shift,
                lut: &self.lut,
            }
        }

        pub fn bias_of(&self, oc: usize) -> i64 {
            i32::from_le_bytes(self.bias[4 * oc..4 * oc + 4].try_into().unwrap()) as i64
        }

        /// The output stage, written independently of `ChannelStage`: i128, Euclidean division.
        pub fn reference_output(&self, oc: usize, acc: i64) -> i8 {
            let neg = acc < 0 && matches!(self.activation, Activation::LeakyRelu { .. });
            let (m_bytes, n) = if neg {
                (&self.neg_mult[4 * oc..4 * oc + 4], self.neg_shift[oc])
            } else {
                (&self.mult[4 * oc..4 * oc + 4], self.shift[oc])
            };
            let m = i32::from_le_bytes(m_bytes.try_into().unwrap()) as i128;
            let acc32 = acc as i32 as i128; // kernels accumulate in i32 (wrapping): same here
            let num = acc32 * m + (1i128 << (n - 1));
            let r = num.div_euclid(1i128 << n);
            let mut q = (r + self.z_out as i128).clamp(-128, 127);
            if self.activation == Activation::Relu {
                q = q.max(self.z_out as i128);
            }
            if self.lut.is_empty() {
                q as i8
            } else {
                self.lut[(q + 128) as usize] as i8
            }
        }

        /// The f64 value the int8 output approximates (before the table, if any).
        pub fn real_output(&self, oc: usize, acc: i64) -> f64 {
            let y = acc as f64 * self.s_in * self.s_w[oc];
            let y = match self.activation {
                Activation::Relu => y.max(0.0),
                Activation::LeakyRelu { slope } if y < 0.0 => y * slope as f64,
                _ => y,
            };
            y / self.s_out + self.z_out as f64
        }
    }

    /// Checks every int8 output: exactly the reference, and (without a table) within one
    /// quantization step of the real value wherever that value is inside the int8 range.
    pub fn check_i8(case: &I8Case, got: &[u8], accs: &[(usize, i64)]) {
        let mut bad = 0;
        for (o, &(oc, acc)) in accs.iter().enumerate() {
            let want = case.reference_output(oc, acc);
            if got[o] as i8 != want {
                if bad < 5 {
                    std::eprintln!(
                        "output {o}: kernel {} reference {want} (acc {acc})",
                        got[o] as i8
                    );
                }
                bad += 1;
            }
            if case.lut.is_empty() {
                let real = case.real_output(oc, acc);
                if (-128.0..=127.0).contains(&real) {
                    assert!(
                        (got[o] as i8 as f64 - real).abs() <= 1.0,
                        "output {o}: {} vs real {real}",
                        got[o] as i8
                    );
                }
            }
        }
        assert_eq!(
            bad,
            0,
            "{bad} of {} int8 outputs differ from the reference",
            accs.len()
        );
    }

    /// Float operands: f32 LE activations and weights as f32 or f16.
    pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
    pub fn f16_bytes(v: &[f32]) -> Vec<u8> {
        v.iter()
            .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
            .collect()
    }
    pub fn f16_round(v: &[f32]) -> Vec<f32> {
        v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect()
    }
    pub fn read_f32(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// `|a - b| <= atol + rtol * |b|` for every element; prints the first failures.
    pub fn assert_close(got: &[f32], want: &[f64], atol: f64, rtol: f64) {
        assert_eq!(got.len(), want.len());
        let mut worst = 0.0f64;
        let mut bad = 0;
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let d = (g as f64 - w).abs();
            worst = worst.max(d);
            if d > atol + rtol * w.abs() {
                if bad < 5 {
                    std::eprintln!("element {i}: got {g} want {w}");
                }
                bad += 1;
            }
        }
        assert_eq!(
            bad, 0,
            "{bad} elements out of tolerance, max |diff| {worst}"
        );
    }

    /// Float activation in f64 for references.
    pub fn activate_f64(a: Activation, y: f64) -> f64 {
        match a {
            Activation::Identity => y,
            Activation::Relu => y.max(0.0),
            Activation::LeakyRelu { slope } => {
                if y < 0.0 {
                    y * slope as f64
                } else {
                    y
                }
            }
            Activation::Tanh => y.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-y).exp()),
        }
    }
}
