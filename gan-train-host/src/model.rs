//! The conditional DCGAN: presets, and the generator and discriminator built as
//! [`Sequential`]s whose layer indices match PyTorch's `nn.Sequential` in
//! `shared/bench/torch_cdcgan.py` (so checkpoint names `net.{i}.weight` line up).
//!
//! G: `concat(z, onehot)` as `(z + C) x 1 x 1` -> ConvT(k7, s1, p0) + BN + ReLU ->
//! ConvT(k4, s2, p1) + BN + ReLU -> ConvT(k4, s2, p1) + Tanh -> `1 x 28 x 28`. No conv biases.
//! D: `concat(image, C one-hot planes)` -> Conv(k4, s2, p1) + LeakyReLU(0.2) -> (the planes
//! are given to the first layer as labels, see `feed_discriminator`)
//! Conv(k4, s2, p1) + BN + LeakyReLU(0.2) -> Conv(k7, s1, p0) -> logit.

use crate::engine::batchnorm::BatchNorm2d;
use crate::engine::conv2d::Conv2d;
use crate::engine::conv_transpose2d::ConvTranspose2d;
use crate::engine::{Layer, Sequential, Tensor};

/// The sizes of a GAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch {
    /// Preset name (or `custom`).
    pub name: String,
    /// Latent length.
    pub z: usize,
    /// Classes for conditioning (0 = unconditional).
    pub classes: usize,
    /// Generator widths after the 7x7 and the 14x14 stage.
    pub g: [usize; 2],
    /// Discriminator widths at 14x14 and 7x7.
    pub d: [usize; 2],
}

/// Names of the presets.
pub const PRESETS: [&str; 2] = ["digits-standard", "digits-tiny"];

impl Arch {
    /// A preset by name: `digits-standard` (the PyTorch baseline's sizes) or `digits-tiny`
    /// (int8 generator + discriminator in about 100 KiB, for a 256 KiB-flash MCU).
    pub fn preset(name: &str) -> Option<Arch> {
        let (z, g, d) = match name {
            "digits-standard" => (64, [128, 64], [64, 128]),
            "digits-tiny" => (20, [48, 24], [16, 32]),
            _ => return None,
        };
        Some(Arch {
            name: name.into(),
            z,
            classes: 10,
            g,
            d,
        })
    }

    /// The generator.
    pub fn generator(&self) -> Sequential {
        let [g0, g1] = self.g;
        Sequential::new(vec![
            Layer::ConvTranspose2d(ConvTranspose2d::new(
                self.z + self.classes,
                g0,
                7,
                1,
                0,
                0,
                false,
            )),
            Layer::BatchNorm(BatchNorm2d::new(g0)),
            Layer::Relu,
            Layer::ConvTranspose2d(ConvTranspose2d::new(g0, g1, 4, 2, 1, 0, false)),
            Layer::BatchNorm(BatchNorm2d::new(g1)),
            Layer::Relu,
            Layer::ConvTranspose2d(ConvTranspose2d::new(g1, 1, 4, 2, 1, 0, false)),
            Layer::Tanh,
        ])
    }

    /// The discriminator (outputs logits).
    pub fn discriminator(&self) -> Sequential {
        let [d0, d1] = self.d;
        Sequential::new(vec![
            Layer::Conv2d(
                Conv2d::new(1 + self.classes, d0, 4, 2, 1, false).with_label_planes(self.classes),
            ),
            Layer::LeakyRelu(0.2),
            Layer::Conv2d(Conv2d::new(d0, d1, 4, 2, 1, false)),
            Layer::BatchNorm(BatchNorm2d::new(d1)),
            Layer::LeakyRelu(0.2),
            Layer::Conv2d(Conv2d::new(d1, 1, 7, 1, 0, false)),
        ])
    }
}

/// Writes the generator input `[z + C, N, 1, 1]`: latents (`N x z`, row per sample) and one-hot
/// labels.
pub fn fill_g_input(t: &mut Tensor, z: &[f32], labels: &[u8], zdim: usize, classes: usize) {
    let n = labels.len();
    t.reset(zdim + classes, n, 1, 1);
    for i in 0..n {
        for k in 0..zdim {
            t.data[k * n + i] = z[i * zdim + k];
        }
        for c in 0..classes {
            t.data[(zdim + c) * n + i] = if labels[i] as usize == c { 1.0 } else { 0.0 };
        }
    }
}

/// Feeds the discriminator: the images (`N x H x W`, in [-1, 1]) as its `[1, N, H, W]` input and
/// the labels to its first layer, which adds the one-hot label planes' contribution itself
/// (`Conv2d::with_label_planes`: same result as concatenating `C` constant planes).
pub fn feed_discriminator(d: &mut Sequential, images: &[f32], labels: &[u8], h: usize, w: usize) {
    let n = labels.len();
    let t = d.input_mut();
    t.reset(1, n, h, w);
    t.data.copy_from_slice(&images[..n * h * w]);
    d.set_labels(labels);
}

/// Pixels (0..=255) to the network's [-1, 1].
pub fn to_unit(p: u8) -> f32 {
    p as f32 / 127.5 - 1.0
}

/// The network's [-1, 1] to pixels, as gan-infer's float path does.
pub fn to_pixel(v: f32) -> u8 {
    ((v + 1.0) * 127.5 + 0.5).clamp(0.0, 255.0) as u8
}
