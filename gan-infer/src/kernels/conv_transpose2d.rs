//! ConvTranspose2d (PyTorch semantics, including `output_padding`).
//!
//! Each input pixel scatters `x[i, iy, ix] * w[i, o, ky, kx]` to
//! `y[o, iy*s - p + ky, ix*s - p + kx]`; outputs off the `[oh, ow]` grid are dropped, with
//! `oh = (ih - 1)*s - 2p + k + output_padding`. Shapes: `x` `[cin, ih, iw]`,
//! `w` `[cin, cout, k, k]` (PyTorch's layout), `y` `[cout, oh, ow]`. int8: see [`crate::quant`].
//!
//! The kernel **gathers** instead of scattering: output `(oy, ox)` receives the taps with
//! `ky ≡ oy + p (mod s)` and `iy = (oy + p - ky) / s` inside the input. So it needs no
//! accumulator buffer the size of its output and reads weights in place from flash (the two
//! costs of scatter-based int8 transposed convolutions). The valid `(ky, iy)` and `(kx, ix)`
//! pairs are found once per output row/column, not per tap.

use super::{Arith, ConvGeometry};
use crate::format::MAX_KERNEL;

/// The taps of one output coordinate: `(kernel index, input index)` pairs.
#[derive(Clone, Copy)]
struct Taps {
    pairs: [(u8, u16); MAX_KERNEL as usize],
    len: usize,
}

impl Taps {
    #[inline(always)]
    fn of(o: usize, g: &ConvGeometry, n_in: usize) -> Taps {
        let mut t = Taps {
            pairs: [(0, 0); MAX_KERNEL as usize],
            len: 0,
        };
        let target = o + g.pad;
        let mut kk = target % g.stride;
        while kk < g.k && kk <= target {
            let i = (target - kk) / g.stride;
            if i < n_in {
                t.pairs[t.len] = (kk as u8, i as u16);
                t.len += 1;
            }
            kk += g.stride;
        }
        t
    }
    #[inline(always)]
    fn as_slice(&self) -> &[(u8, u16)] {
        &self.pairs[..self.len]
    }
}

/// `out` (`[cout, oh, ow]`) = transposed convolution of the input held by `a`.
/// `g.oh`/`g.ow` already include `output_padding`.
pub fn conv_transpose2d<A: Arith>(out: &mut [u8], a: &A, g: &ConvGeometry) {
    let k = g.k;
    for oc in 0..g.cout {
        let ch = a.channel(oc);
        for oy in 0..g.oh {
            let ys = Taps::of(oy, g, g.ih);
            for ox in 0..g.ow {
                let xs = Taps::of(ox, g, g.iw);
                let mut acc = A::start(&ch);
                let (x_stride, w_stride) = (g.ih * g.iw, g.cout * k * k);
                for &(ky, iy) in ys.as_slice() {
                    for &(kx, ix) in xs.as_slice() {
                        let x0 = iy as usize * g.iw + ix as usize;
                        let w0 = (oc * k + ky as usize) * k + kx as usize;
                        acc = a.mac_strided(acc, x0, x_stride, w0, w_stride, g.cin);
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

    /// Plain reference in the scatter form (the definition), into an f64 buffer.
    fn reference(
        g: &ConvGeometry,
        x: impl Fn(usize) -> f64,
        w: impl Fn(usize) -> f64,
        b: impl Fn(usize) -> f64,
    ) -> Vec<f64> {
        let mut y = vec![0.0; g.cout * g.oh * g.ow];
        for o in 0..g.cout {
            for p in 0..g.oh * g.ow {
                y[o * g.oh * g.ow + p] = b(o);
            }
        }
        for i in 0..g.cin {
            for iy in 0..g.ih {
                for ix in 0..g.iw {
                    let xv = x((i * g.ih + iy) * g.iw + ix);
                    for o in 0..g.cout {
                        for ky in 0..g.k {
                            for kx in 0..g.k {
                                let oy = (iy * g.stride + ky) as isize - g.pad as isize;
                                let ox = (ix * g.stride + kx) as isize - g.pad as isize;
                                if oy < 0 || ox < 0 || oy >= g.oh as isize || ox >= g.ow as isize {
                                    continue;
                                }
                                y[(o * g.oh + oy as usize) * g.ow + ox as usize] +=
                                    xv * w(((i * g.cout + o) * g.k + ky) * g.k + kx);
                            }
                        }
                    }
                }
            }
        }
        y
    }

    fn random_geometry(rng: &mut Rng) -> ConvGeometry {
        let k = [1, 2, 3, 4, 5, 7][rng.below(6)];
        let stride = rng.range(1, 3);
        let pad = rng.below(k);
        let out_pad = rng.below(stride);
        let (ih, iw) = (rng.range(1, 8), rng.range(1, 8));
        let side = |n: usize| {
            ((n - 1) * stride + k + out_pad)
                .checked_sub(2 * pad)
                .filter(|&v| v > 0)
        };
        match (side(ih), side(iw)) {
            (Some(oh), Some(ow)) => ConvGeometry {
                cin: rng.range(1, 6),
                cout: rng.range(1, 6),
                ih,
                iw,
                oh,
                ow,
                k,
                stride,
                pad,
            },
            _ => random_geometry(rng),
        }
    }

    #[test]
    fn int8_matches_integer_reference_on_random_shapes() {
        let mut rng = Rng(0x00DE_C0DE);
        for trial in 0..200 {
            let g = random_geometry(&mut rng);
            let act = ACTIVATIONS[trial % ACTIVATIONS.len()];
            let fan_in = (g.cin * g.k * g.k / (g.stride * g.stride)).max(1);
            let case = I8Case::random(
                &mut rng,
                g.cin * g.ih * g.iw,
                g.cin * g.cout * g.k * g.k,
                g.cout,
                fan_in,
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
            conv_transpose2d(&mut out, &a, &g);
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
        let mut rng = Rng(7);
        for trial in 0..200 {
            let g = random_geometry(&mut rng);
            let act = [
                Activation::Identity,
                Activation::Relu,
                Activation::Tanh,
                Activation::Sigmoid,
            ][trial % 4];
            let x: Vec<f32> = (0..g.cin * g.ih * g.iw)
                .map(|_| rng.uniform() as f32)
                .collect();
            let w: Vec<f32> = (0..g.cin * g.cout * g.k * g.k)
                .map(|_| rng.uniform() as f32 * 0.3)
                .collect();
            let b: Vec<f32> = (0..g.cout).map(|_| rng.uniform() as f32 * 0.1).collect();
            let (xb, bb, wb, wh, wr) = (
                f32_bytes(&x),
                f32_bytes(&b),
                f32_bytes(&w),
                f16_bytes(&w),
                f16_round(&w),
            );
            let mut out = vec![0u8; 4 * g.cout * g.oh * g.ow];
            conv_transpose2d(
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
            conv_transpose2d(
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

    fn run_f32(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (xb, wb, bb) = (f32_bytes(x), f32_bytes(w), f32_bytes(&vec![0.0; g.cout]));
        let mut out = vec![0u8; 4 * g.cout * g.oh * g.ow];
        conv_transpose2d(
            &mut out,
            &FloatArith {
                x: &xb,
                w: F32Weights(&wb),
                bias: &bb,
                activation: Activation::Identity,
            },
            g,
        );
        read_f32(&out)
    }

    #[test]
    fn hand_computed_k3_s2_p1_output_padding_1() {
        // x = [[1,2],[3,4]], w = ones(3x3). The full (unpadded) 5x5 output is
        //   1 1  3 2 2 / 1 1 3 2 2 / 4 4 10 6 6 / 3 3 7 4 4 / 3 3 7 4 4;
        // padding 1 crops one row/column on each side, output_padding 1 adds one back at the
        // bottom/right: out = 4x4 = full[1..5][1..5].
        let g = ConvGeometry {
            cin: 1,
            cout: 1,
            ih: 2,
            iw: 2,
            oh: 4,
            ow: 4,
            k: 3,
            stride: 2,
            pad: 1,
        };
        let y = run_f32(&g, &[1.0, 2.0, 3.0, 4.0], &[1.0; 9]);
        assert_eq!(
            y,
            [1.0, 3.0, 2.0, 2.0, 4.0, 10.0, 6.0, 6.0, 3.0, 7.0, 4.0, 4.0, 3.0, 7.0, 4.0, 4.0]
        );
    }

    #[test]
    fn hand_computed_k4_s2_p1() {
        // One input pixel of value 1 stamps the 4x4 kernel (1..16); padding 1 keeps its centre.
        let g = ConvGeometry {
            cin: 1,
            cout: 1,
            ih: 1,
            iw: 1,
            oh: 2,
            ow: 2,
            k: 4,
            stride: 2,
            pad: 1,
        };
        let w: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        assert_eq!(run_f32(&g, &[1.0], &w), [6.0, 7.0, 10.0, 11.0]);
        // 2x2 input, k4 s2 p1 doubles the side: 4x4. Channel-sum check on a 2-channel input.
        let g = ConvGeometry {
            cin: 2,
            cout: 1,
            ih: 2,
            iw: 2,
            oh: 4,
            ow: 4,
            k: 4,
            stride: 2,
            pad: 1,
        };
        let mut w2 = vec![0.0f32; 32];
        w2[5] = 1.0; // channel 0, (ky, kx) = (1, 1): out(2iy, 2ix) = x0(iy, ix)
        w2[16 + 10] = 2.0; // channel 1, (2, 2): out(2iy + 1, 2ix + 1) = 2 * x1(iy, ix)
        let y = run_f32(&g, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &w2);
        assert_eq!(
            y,
            [1.0, 0.0, 2.0, 0.0, 0.0, 10.0, 0.0, 12.0, 3.0, 0.0, 4.0, 0.0, 0.0, 14.0, 0.0, 16.0]
        );
    }

    #[test]
    fn one_by_one_input_k7_is_a_dense_layer() {
        // The generator's first layer: 1x1 -> 7x7 with k7, s1, p0.
        let g = ConvGeometry {
            cin: 3,
            cout: 2,
            ih: 1,
            iw: 1,
            oh: 7,
            ow: 7,
            k: 7,
            stride: 1,
            pad: 0,
        };
        let w: Vec<f32> = (0..3 * 2 * 49).map(|v| v as f32).collect();
        let y = run_f32(&g, &[1.0, 10.0, 100.0], &w);
        for o in 0..2 {
            for p in 0..49 {
                let want = w[o * 49 + p] + 10.0 * w[(2 + o) * 49 + p] + 100.0 * w[(4 + o) * 49 + p];
                assert_eq!(y[o * 49 + p], want);
            }
        }
    }
}
