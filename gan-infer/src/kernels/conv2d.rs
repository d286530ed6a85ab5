//! Conv2d (PyTorch semantics: cross-correlation, zero padding).
//!
//! ```text
//! y[o, oy, ox] = b[o] + Σ_i Σ_ky Σ_kx  x[i, oy*s - p + ky, ox*s - p + kx] * w[o, i, ky, kx]
//! ```
//! over taps inside the input (padding contributes a real 0, which int8 represents by the input
//! zero point, so padded taps are skipped). Shapes: `x` `[cin, ih, iw]`, `w` `[cout, cin, k, k]`,
//! `y` `[cout, oh, ow]` with `oh = (ih + 2p - k) / s + 1`. int8: see [`crate::quant`].
//!
//! The kernel clips each output's kernel window to the input once (no test per tap) and runs
//! each kernel row as one contiguous multiply-accumulate over input and weights.

use super::{Arith, ConvGeometry};

/// The kernel rows/columns `lo..hi` whose taps fall inside an input side of `n` when the
/// window starts at `start` (may be negative).
#[inline(always)]
pub(crate) fn window(start: isize, k: usize, n: usize) -> (usize, usize) {
    let lo = (-start).clamp(0, k as isize) as usize;
    let hi = (n as isize - start).clamp(0, k as isize) as usize;
    (lo, hi.max(lo))
}

/// `out` (`[cout, oh, ow]`) = conv2d of the input held by `a`.
pub fn conv2d<A: Arith>(out: &mut [u8], a: &A, g: &ConvGeometry) {
    let k = g.k;
    for oc in 0..g.cout {
        let ch = a.channel(oc);
        for oy in 0..g.oh {
            let iy0 = (oy * g.stride) as isize - g.pad as isize;
            let (ky_lo, ky_hi) = window(iy0, k, g.ih);
            for ox in 0..g.ow {
                let ix0 = (ox * g.stride) as isize - g.pad as isize;
                let (kx_lo, kx_hi) = window(ix0, k, g.iw);
                let run = kx_hi - kx_lo;
                let mut acc = A::start(&ch);
                if run > 0 {
                    for ic in 0..g.cin {
                        for ky in ky_lo..ky_hi {
                            let iy = (iy0 + ky as isize) as usize;
                            let xi = (ic * g.ih + iy) * g.iw + (ix0 + kx_lo as isize) as usize;
                            let wi = ((oc * g.cin + ic) * k + ky) * k + kx_lo;
                            acc = a.mac_run(acc, xi, wi, run);
                        }
                    }
                }
                A::store(&ch, out, (oc * g.oh + oy) * g.ow + ox, acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::super::testutil::*;
    use super::super::{F16Weights, F32Weights, FloatArith, I8Arith};
    use super::*;
    use crate::format::Activation;

    /// Plain reference: every tap, bounds tested per tap; `x(i)` and `w(i)` read elements.
    fn reference(
        g: &ConvGeometry,
        x: impl Fn(usize) -> f64,
        w: impl Fn(usize) -> f64,
        b: impl Fn(usize) -> f64,
    ) -> Vec<f64> {
        let mut y = vec![0.0; g.cout * g.oh * g.ow];
        for o in 0..g.cout {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = b(o);
                    for i in 0..g.cin {
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                                if iy < 0 || ix < 0 || iy >= g.ih as isize || ix >= g.iw as isize {
                                    continue;
                                }
                                let xv = x((i * g.ih + iy as usize) * g.iw + ix as usize);
                                s += xv * w(((o * g.cin + i) * g.k + ky) * g.k + kx);
                            }
                        }
                    }
                    y[(o * g.oh + oy) * g.ow + ox] = s;
                }
            }
        }
        y
    }

    fn random_geometry(rng: &mut Rng) -> ConvGeometry {
        let k = [1, 3, 4, 5, 7][rng.below(5)];
        let stride = rng.range(1, 3);
        let pad = rng.below(k);
        let ih = rng.range(k.saturating_sub(2 * pad).max(1), 12);
        let iw = rng.range(k.saturating_sub(2 * pad).max(1), 12);
        let (cin, cout) = (rng.range(1, 6), rng.range(1, 6));
        ConvGeometry {
            cin,
            cout,
            ih,
            iw,
            oh: (ih + 2 * pad - k) / stride + 1,
            ow: (iw + 2 * pad - k) / stride + 1,
            k,
            stride,
            pad,
        }
    }

    #[test]
    fn int8_matches_integer_reference_on_random_shapes() {
        let mut rng = Rng(0x1234_5678);
        for trial in 0..200 {
            let g = random_geometry(&mut rng);
            let act = ACTIVATIONS[trial % ACTIVATIONS.len()];
            let case = I8Case::random(
                &mut rng,
                g.cin * g.ih * g.iw,
                g.cout * g.cin * g.k * g.k,
                g.cout,
                g.cin * g.k * g.k,
                act,
            );
            let a = I8Arith {
                x: &case.x,
                w: &case.w,
                bias: &case.bias,
                quant: case.quant(),
                activation: act,
            };
            let mut out = vec![0u8; g.cout * g.oh * g.ow];
            conv2d(&mut out, &a, &g);
            let z = case.z_in as f64;
            let accs = reference(
                &g,
                |i| case.x[i] as i8 as f64 - z,
                |i| case.w[i] as i8 as f64,
                |o| case.bias_of(o) as f64,
            );
            let accs: Vec<(usize, i64)> = accs
                .iter()
                .enumerate()
                .map(|(i, &v)| (i / (g.oh * g.ow), v as i64))
                .collect();
            check_i8(&case, &out, &accs);
        }
    }

    #[test]
    fn float_paths_match_f64_reference_on_random_shapes() {
        let mut rng = Rng(99);
        for trial in 0..200 {
            let g = random_geometry(&mut rng);
            let act = [
                Activation::Identity,
                Activation::Relu,
                Activation::LeakyRelu { slope: 0.2 },
                Activation::Tanh,
                Activation::Sigmoid,
            ][trial % 5];
            let x: Vec<f32> = (0..g.cin * g.ih * g.iw)
                .map(|_| rng.uniform() as f32)
                .collect();
            let w: Vec<f32> = (0..g.cout * g.cin * g.k * g.k)
                .map(|_| rng.uniform() as f32 * 0.3)
                .collect();
            let b: Vec<f32> = (0..g.cout).map(|_| rng.uniform() as f32 * 0.1).collect();
            let (xb, bb) = (f32_bytes(&x), f32_bytes(&b));
            let mut out = vec![0u8; 4 * g.cout * g.oh * g.ow];
            // f32 weights.
            let wb = f32_bytes(&w);
            conv2d(
                &mut out,
                &FloatArith {
                    x: &xb,
                    w: F32Weights(&wb),
                    bias: &bb,
                    activation: act,
                },
                &g,
            );
            let want: Vec<f64> = reference(&g, |i| x[i] as f64, |i| w[i] as f64, |o| b[o] as f64)
                .into_iter()
                .map(|y| activate_f64(act, y))
                .collect();
            assert_close(&read_f32(&out), &want, 1e-5, 1e-5);
            // f16 weights: exact against a reference on the same f16-rounded weights.
            let wh = f16_bytes(&w);
            let wr = f16_round(&w);
            conv2d(
                &mut out,
                &FloatArith {
                    x: &xb,
                    w: F16Weights(&wh),
                    bias: &bb,
                    activation: act,
                },
                &g,
            );
            let want: Vec<f64> = reference(&g, |i| x[i] as f64, |i| wr[i] as f64, |o| b[o] as f64)
                .into_iter()
                .map(|y| activate_f64(act, y))
                .collect();
            assert_close(&read_f32(&out), &want, 1e-5, 1e-5);
        }
    }

    #[test]
    fn hand_computed_3x3_same_padding() {
        // 1 channel 3x3 input 1..9, kernel all ones, stride 1, padding 1: each output is the
        // sum of its 3x3 neighbourhood.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let g = ConvGeometry {
            cin: 1,
            cout: 1,
            ih: 3,
            iw: 3,
            oh: 3,
            ow: 3,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let (xb, wb, bb) = (f32_bytes(&x), f32_bytes(&[1.0; 9]), f32_bytes(&[0.0]));
        let mut out = vec![0u8; 36];
        conv2d(
            &mut out,
            &FloatArith {
                x: &xb,
                w: F32Weights(&wb),
                bias: &bb,
                activation: Activation::Identity,
            },
            &g,
        );
        assert_eq!(
            read_f32(&out),
            [12.0, 21.0, 16.0, 27.0, 45.0, 33.0, 24.0, 39.0, 28.0]
        );
    }
}
