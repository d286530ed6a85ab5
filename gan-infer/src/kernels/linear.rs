//! Linear (dense): `y[o] = b[o] + Σ_i x[i] * w[o, i]` on the flattened input.
//! Shapes: `x` `[in]`, `w` `[out, in]` (PyTorch's layout), `y` `[out]` (any CHW shape of that
//! length). int8: per output feature quantization, see [`crate::quant`].

use super::Arith;

/// `out` (`[out_features]`) = linear layer of the `in_features` inputs held by `a`.
pub fn linear<A: Arith>(out: &mut [u8], a: &A, in_features: usize, out_features: usize) {
    for o in 0..out_features {
        let ch = a.channel(o);
        let acc = a.mac_run(A::start(&ch), 0, o * in_features, in_features);
        A::store(&ch, out, o, acc);
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

    #[test]
    fn int8_matches_integer_reference() {
        let mut rng = Rng(42);
        for trial in 0..100 {
            let (n_in, n_out) = (rng.range(1, 300), rng.range(1, 40));
            let act = ACTIVATIONS[trial % ACTIVATIONS.len()];
            let case = I8Case::random(&mut rng, n_in, n_in * n_out, n_out, n_in, act);
            let a = I8Arith {
                x: &case.x,
                w: &case.w,
                bias: &case.bias,
                quant: case.quant(),
                activation: act,
            };
            let mut out = vec![0u8; n_out];
            linear(&mut out, &a, n_in, n_out);
            let accs: Vec<(usize, i64)> = (0..n_out)
                .map(|o| {
                    let dot: i64 = (0..n_in)
                        .map(|i| {
                            (case.x[i] as i8 as i64 - case.z_in as i64)
                                * case.w[o * n_in + i] as i8 as i64
                        })
                        .sum();
                    (o, case.bias_of(o) + dot)
                })
                .collect();
            check_i8(&case, &out, &accs);
        }
    }

    #[test]
    fn float_paths_match_f64_reference() {
        let mut rng = Rng(5);
        for trial in 0..100 {
            let (n_in, n_out) = (rng.range(1, 300), rng.range(1, 40));
            let act = [Activation::Identity, Activation::Relu, Activation::Sigmoid][trial % 3];
            let x: Vec<f32> = (0..n_in).map(|_| rng.uniform() as f32).collect();
            let w: Vec<f32> = (0..n_in * n_out)
                .map(|_| rng.uniform() as f32 * 0.1)
                .collect();
            let b: Vec<f32> = (0..n_out).map(|_| rng.uniform() as f32).collect();
            for half in [false, true] {
                let wv = if half { f16_round(&w) } else { w.clone() };
                let wb = if half { f16_bytes(&w) } else { f32_bytes(&w) };
                let (xb, bb) = (f32_bytes(&x), f32_bytes(&b));
                let mut out = vec![0u8; 4 * n_out];
                if half {
                    linear(
                        &mut out,
                        &FloatArith {
                            x: &xb,
                            w: F16Weights(&wb),
                            bias: &bb,
                            activation: act,
                        },
                        n_in,
                        n_out,
                    );
                } else {
                    linear(
                        &mut out,
                        &FloatArith {
                            x: &xb,
                            w: F32Weights(&wb),
                            bias: &bb,
                            activation: act,
                        },
                        n_in,
                        n_out,
                    );
                }
                let want: Vec<f64> = (0..n_out)
                    .map(|o| {
                        activate_f64(
                            act,
                            b[o] as f64
                                + (0..n_in)
                                    .map(|i| x[i] as f64 * wv[o * n_in + i] as f64)
                                    .sum::<f64>(),
                        )
                    })
                    .collect();
                assert_close(&read_f32(&out), &want, 1e-5, 1e-5);
            }
        }
    }
}
