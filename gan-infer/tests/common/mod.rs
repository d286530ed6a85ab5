//! Small random conditional GANs for the tests, built through the crate's own writer.
#![allow(dead_code)]

use gan_infer::build::{encode_network, model_bytes, FloatLayer, FloatNetwork, RangeMethod};
use gan_infer::{Activation, Op, Precision, Shape};

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

fn layer(rng: &mut Rng, op: Op, input: Shape, output: Shape, activation: Activation) -> FloatLayer {
    let n = gan_infer::format::weight_count(op, input, output) as usize;
    let fan_in = (n / output.c.max(1) as usize).max(1) as f32;
    let cout = if op == Op::Linear {
        output.len()
    } else {
        output.c as usize
    };
    FloatLayer {
        op,
        input,
        output,
        activation,
        weights: rng.vec(n, 1.7 / fan_in.sqrt()),
        bias: rng.vec(cout, 0.1),
    }
}

/// G: (z + classes) -> ConvT k4 -> 4x4 -> ConvT k4 s2 p1 -> 8x8 -> ConvT k3 s1 p1 -> 1x8x8, tanh.
pub fn small_generator(rng: &mut Rng, z: u16, classes: u16) -> FloatNetwork {
    let i = Shape::new(z + classes, 1, 1);
    let a = Shape::new(6, 4, 4);
    let b = Shape::new(4, 8, 8);
    let c = Shape::new(1, 8, 8);
    FloatNetwork {
        latent_dim: z,
        num_classes: classes,
        input: i,
        layers: vec![
            layer(
                rng,
                Op::ConvTranspose2d {
                    kernel: 4,
                    stride: 1,
                    padding: 0,
                    output_padding: 0,
                },
                i,
                a,
                Activation::Relu,
            ),
            layer(
                rng,
                Op::ConvTranspose2d {
                    kernel: 4,
                    stride: 2,
                    padding: 1,
                    output_padding: 0,
                },
                a,
                b,
                Activation::Relu,
            ),
            layer(
                rng,
                Op::Conv2d {
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                },
                b,
                c,
                Activation::Tanh,
            ),
        ],
    }
}

/// D: (1 + classes)x8x8 -> Conv k4 s2 p1 -> 6x4x4 leaky -> Reshape -> Linear -> 1, sigmoid.
pub fn small_discriminator(rng: &mut Rng, classes: u16) -> FloatNetwork {
    let i = Shape::new(1 + classes, 8, 8);
    let a = Shape::new(6, 4, 4);
    let flat = Shape::new(96, 1, 1);
    let o = Shape::new(1, 1, 1);
    FloatNetwork {
        latent_dim: 0,
        num_classes: classes,
        input: i,
        layers: vec![
            layer(
                rng,
                Op::Conv2d {
                    kernel: 4,
                    stride: 2,
                    padding: 1,
                },
                i,
                a,
                Activation::LeakyRelu { slope: 0.2 },
            ),
            FloatLayer {
                op: Op::Reshape,
                input: a,
                output: flat,
                activation: Activation::Identity,
                weights: vec![],
                bias: vec![],
            },
            layer(rng, Op::Linear, flat, o, Activation::Sigmoid),
        ],
    }
}

/// The float input a generator sees for a Q12 latent and a label.
pub fn g_input(latent_q12: &[i32], label: Option<u8>, classes: u16) -> Vec<f32> {
    let mut v: Vec<f32> = latent_q12.iter().map(|&q| q as f32 / 4096.0).collect();
    for c in 0..classes {
        v.push(if Some(c as u8) == label { 1.0 } else { 0.0 });
    }
    v
}

pub fn d_input(pixels: &[u8], label: Option<u8>, classes: u16) -> Vec<f32> {
    let mut v: Vec<f32> = pixels.iter().map(|&p| p as f32 / 127.5 - 1.0).collect();
    for c in 0..classes {
        v.extend(std::iter::repeat_n(
            if Some(c as u8) == label { 1.0 } else { 0.0 },
            pixels.len(),
        ));
    }
    v
}

pub struct Pair {
    pub g: FloatNetwork,
    pub d: FloatNetwork,
}

pub fn small_pair(seed: u64, z: u16, classes: u16) -> Pair {
    let mut rng = Rng(seed);
    Pair {
        g: small_generator(&mut rng, z, classes),
        d: small_discriminator(&mut rng, classes),
    }
}

/// Encodes a pair at a precision; int8 calibrates on sampler latents and random images.
pub fn encode_pair(p: &Pair, precision: Precision) -> Vec<u8> {
    let classes = p.g.num_classes;
    let (gc, dc) = if precision == Precision::I8 {
        let mut gi = Vec::new();
        let mut di = Vec::new();
        let mut rng = Rng(3);
        for s in 0..64u64 {
            let mut z = vec![0i32; p.g.latent_dim as usize];
            gan_infer::LatentSampler::new(1000 + s).fill_q12(&mut z);
            let label = (classes > 0).then_some((s % classes as u64) as u8);
            gi.push(g_input(&z, label, classes));
            let px: Vec<u8> = (0..64).map(|_| (rng.next() % 256) as u8).collect();
            di.push(d_input(&px, label, classes));
        }
        (
            Some(p.g.calibrate(&gi, RangeMethod::MinMax)),
            Some(p.d.calibrate(&di, RangeMethod::MinMax)),
        )
    } else {
        (None, None)
    };
    let g = encode_network(&p.g, true, precision, gc.as_ref()).unwrap();
    let d = encode_network(&p.d, false, precision, dc.as_ref()).unwrap();
    model_bytes("small", Some(&g), Some(&d))
}
