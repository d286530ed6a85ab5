//! Round trips through the model file, forward passes in every precision, the arena bound.

mod common;
use common::*;

use gan_infer::{LatentSampler, Model, Precision, RunError};

#[test]
fn round_trip_and_generate_in_every_precision() {
    let pair = small_pair(11, 5, 3);
    for precision in [Precision::F32, Precision::F16, Precision::I8] {
        let bytes = encode_pair(&pair, precision);
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{precision:?}: {e}"));
        assert_eq!(model.name(), "small");
        let g = model.generator().unwrap();
        let d = model.discriminator().unwrap();
        assert_eq!(g.precision(), precision);
        assert_eq!(
            (g.latent_dim(), g.num_classes(), g.image_shape().len()),
            (5, 3, 64)
        );
        let mut arena = vec![0u8; g.arena_bytes().max(d.arena_bytes())];
        for seed in 0..20u64 {
            let label = Some((seed % 3) as u8);
            let mut img = [0u8; 64];
            g.generate(seed, label, &mut arena, &mut img).unwrap();
            // The float reference of the same latent.
            let mut z = [0i32; 5];
            LatentSampler::new(seed).fill_q12(&mut z);
            let want: Vec<f32> = pair.g.forward(&g_input(&z, label, 3));
            let tol = match precision {
                Precision::F32 => 1.0, // pixel rounding only
                Precision::F16 => 3.0, // + half weights
                Precision::I8 => 12.0, // + int8 weights/activations (3 layers, random weights)
            };
            for (i, (&p, &y)) in img.iter().zip(&want).enumerate() {
                let ref_px = ((y + 1.0) * 127.5).clamp(0.0, 255.0);
                assert!(
                    (p as f32 - ref_px).abs() <= tol,
                    "{precision:?} seed {seed} pixel {i}: {p} vs {ref_px}"
                );
            }
            let prob = d.score(&img, label, &mut arena).unwrap();
            let want_p = pair.d.forward(&d_input(&img, label, 3))[0];
            let tol_p = if precision == Precision::I8 {
                0.03
            } else {
                1e-3
            };
            assert!(
                (prob.to_f32() - want_p).abs() <= tol_p,
                "{precision:?}: D {} vs {want_p}",
                prob.to_f32()
            );
        }
    }
}

#[test]
fn same_seed_same_image_and_labels_matter() {
    let pair = small_pair(12, 4, 2);
    let bytes = encode_pair(&pair, Precision::I8);
    let g = Model::from_bytes(&bytes).unwrap().generator().unwrap();
    let mut arena = vec![0u8; g.arena_bytes()];
    let (mut a, mut b, mut c) = ([0u8; 64], [0u8; 64], [0u8; 64]);
    g.generate(5, Some(0), &mut arena, &mut a).unwrap();
    arena.iter_mut().for_each(|v| *v = 0xAA); // stale arena contents must not matter
    g.generate(5, Some(0), &mut arena, &mut b).unwrap();
    g.generate(5, Some(1), &mut arena, &mut c).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn arena_is_exactly_the_largest_pair_of_live_activations() {
    let pair = small_pair(13, 5, 3);
    for (precision, e) in [
        (Precision::I8, 1usize),
        (Precision::F16, 4),
        (Precision::F32, 4),
    ] {
        let bytes = encode_pair(&pair, precision);
        let m = Model::from_bytes(&bytes).unwrap();
        let g = m.generator().unwrap();
        // G: 8 -> 6x4x4 (96) -> 4x8x8 (256) -> 1x8x8 (64): max pair = 96 + 256.
        assert_eq!(g.arena_bytes(), (96 + 256) * e);
        // D: 4x8x8 (256) -> 96 -> (reshape, in place) -> 1: max pair = 256 + 96.
        assert_eq!(m.discriminator().unwrap().arena_bytes(), (256 + 96) * e);
        let mut img = [0u8; 64];
        let mut exact = vec![0u8; g.arena_bytes()];
        g.generate(1, Some(2), &mut exact, &mut img).unwrap();
        let mut short = vec![0u8; g.arena_bytes() - 1];
        assert_eq!(
            g.generate(1, Some(2), &mut short, &mut img),
            Err(RunError::ArenaTooSmall {
                needed: g.arena_bytes(),
                got: g.arena_bytes() - 1
            })
        );
    }
}

#[test]
fn standard_generator_arena_figure() {
    // The digits-standard generator: 74 -> (128,7,7) -> (64,14,14) -> (1,28,28).
    use gan_infer::build::{encode_network, FloatLayer, FloatNetwork};
    use gan_infer::{Activation, Op, Shape};
    let s = |c, h| Shape::new(c, h, h);
    let l = |op, i: Shape, o: Shape, a| FloatLayer {
        op,
        input: i,
        output: o,
        activation: a,
        weights: vec![0.01; gan_infer::format::weight_count(op, i, o) as usize],
        bias: vec![0.0; o.c as usize],
    };
    let ct = |k, st, p| Op::ConvTranspose2d {
        kernel: k,
        stride: st,
        padding: p,
        output_padding: 0,
    };
    let net = FloatNetwork {
        latent_dim: 64,
        num_classes: 10,
        input: s(74, 1),
        layers: vec![
            l(ct(7, 1, 0), s(74, 1), s(128, 7), Activation::Relu),
            l(ct(4, 2, 1), s(128, 7), s(64, 14), Activation::Relu),
            l(ct(4, 2, 1), s(64, 14), s(1, 28), Activation::Tanh),
        ],
    };
    for (p, want) in [
        (Precision::F32, 4 * (6272 + 12544)),
        (Precision::F16, 4 * (6272 + 12544)),
    ] {
        assert_eq!(
            encode_network(&net, true, p, None)
                .unwrap()
                .desc()
                .arena_bytes as usize,
            want
        );
    }
    let cal = net.calibrate(&[vec![0.5; 74]], gan_infer::build::RangeMethod::MinMax);
    let i8net = encode_network(&net, true, Precision::I8, Some(&cal)).unwrap();
    assert_eq!(i8net.desc().arena_bytes, 6272 + 12544); // 18,816 bytes
}

#[test]
fn run_errors_are_typed() {
    let pair = small_pair(14, 5, 3);
    let bytes = encode_pair(&pair, Precision::I8);
    let m = Model::from_bytes(&bytes).unwrap();
    let g = m.generator().unwrap();
    let mut arena = vec![0u8; g.arena_bytes()];
    let mut img = [0u8; 64];
    assert_eq!(
        g.generate(0, None, &mut arena, &mut img),
        Err(RunError::BadLabel {
            label: 255,
            classes: 3
        })
    );
    assert_eq!(
        g.generate(0, Some(3), &mut arena, &mut img),
        Err(RunError::BadLabel {
            label: 3,
            classes: 3
        })
    );
    assert_eq!(
        g.generate(0, Some(1), &mut arena, &mut img[..63]),
        Err(RunError::BufferLength {
            needed: 64,
            got: 63
        })
    );
    assert_eq!(
        g.generate_from_latent(&[0; 4], Some(1), &mut arena, &mut img),
        Err(RunError::BufferLength { needed: 5, got: 4 })
    );
}
