//! `weights_init`: sets each layer type's initial weights by a named rule.
//!
//! | rule | Conv2d / ConvTranspose2d | BatchNorm2d | Linear |
//! |---|---|---|---|
//! | `Dcgan` (Radford et al. 2016) | weight ~ N(0, 0.02), bias 0 | gamma ~ N(1, 0.02), beta 0 | weight ~ N(0, 0.02), bias 0 |
//! | `KaimingUniform` (PyTorch's default) | weight, bias ~ U(±1/sqrt(fan_in)) | gamma 1, beta 0 | weight, bias ~ U(±1/sqrt(fan_in)) |
//!
//! (`KaimingUniform` is `kaiming_uniform_(a = sqrt(5))`, whose bound reduces to `1/sqrt(fan_in)`;
//! fan_in of a ConvTranspose2d is PyTorch's: `weight.size(1) * k * k` = out channels * k².)

use super::{Layer, Param, Rng, Sequential};

/// A weight initialisation rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitRule {
    /// The DCGAN rule.
    Dcgan,
    /// PyTorch's default for each layer type.
    KaimingUniform,
}

fn normal(p: &mut Param, mean: f32, std: f32, rng: &mut Rng) {
    p.w.iter_mut().for_each(|w| *w = mean + std * rng.normal());
}

fn uniform(p: &mut Param, bound: f32, rng: &mut Rng) {
    p.w.iter_mut()
        .for_each(|w| *w = (rng.uniform() * 2.0 - 1.0) * bound);
}

/// Initialises one layer by `rule`.
pub fn init_layer(layer: &mut Layer, rule: InitRule, rng: &mut Rng) {
    // PyTorch's fan_in: size(1) * k * k for both conv kinds (in for Conv2d, out for
    // ConvTranspose2d, whose weight is [in, out, k, k]).
    let fan_in_of =
        |shape: &[usize]| -> f32 { (shape[1] * shape[2..].iter().product::<usize>()) as f32 };
    match (layer, rule) {
        (Layer::Conv2d(c), InitRule::Dcgan) => {
            normal(&mut c.weight, 0.0, 0.02, rng);
            if let Some(b) = &mut c.bias {
                b.w.fill(0.0);
            }
        }
        (Layer::ConvTranspose2d(c), InitRule::Dcgan) => {
            normal(&mut c.weight, 0.0, 0.02, rng);
            if let Some(b) = &mut c.bias {
                b.w.fill(0.0);
            }
        }
        (Layer::BatchNorm(bn), InitRule::Dcgan) => {
            normal(&mut bn.gamma, 1.0, 0.02, rng);
            bn.beta.w.fill(0.0);
        }
        (Layer::Linear(l), InitRule::Dcgan) => {
            normal(&mut l.weight, 0.0, 0.02, rng);
            l.bias.w.fill(0.0);
        }
        (Layer::Conv2d(c), InitRule::KaimingUniform) => {
            let bound = 1.0 / fan_in_of(&c.weight.shape).sqrt();
            uniform(&mut c.weight, bound, rng);
            if let Some(b) = &mut c.bias {
                uniform(b, bound, rng);
            }
        }
        (Layer::ConvTranspose2d(c), InitRule::KaimingUniform) => {
            let bound = 1.0 / fan_in_of(&c.weight.shape).sqrt();
            uniform(&mut c.weight, bound, rng);
            if let Some(b) = &mut c.bias {
                uniform(b, bound, rng);
            }
        }
        (Layer::BatchNorm(bn), InitRule::KaimingUniform) => {
            bn.gamma.w.fill(1.0);
            bn.beta.w.fill(0.0);
        }
        (Layer::Linear(l), InitRule::KaimingUniform) => {
            let bound = 1.0 / (l.fin as f32).sqrt();
            uniform(&mut l.weight, bound, rng);
            uniform(&mut l.bias, bound, rng);
        }
        _ => {} // parameter-free layers
    }
}

/// Initialises every layer of a network by `rule`, in order.
pub fn weights_init(net: &mut Sequential, rule: InitRule, rng: &mut Rng) {
    for layer in &mut net.layers {
        init_layer(layer, rule, rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::batchnorm::BatchNorm2d;
    use crate::engine::conv2d::Conv2d;

    #[test]
    fn dcgan_rule_statistics() {
        let mut rng = Rng::new(1);
        let mut conv = Layer::Conv2d(Conv2d::new(64, 64, 4, 2, 1, false));
        init_layer(&mut conv, InitRule::Dcgan, &mut rng);
        let Layer::Conv2d(c) = &conv else {
            unreachable!()
        };
        let n = c.weight.w.len() as f64;
        let mean = c.weight.w.iter().map(|&v| v as f64).sum::<f64>() / n;
        let std = (c
            .weight
            .w
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        assert!(
            mean.abs() < 1e-3 && (std - 0.02).abs() < 1e-3,
            "{mean} {std}"
        );
        let mut bn = Layer::BatchNorm(BatchNorm2d::new(1000));
        init_layer(&mut bn, InitRule::Dcgan, &mut rng);
        let Layer::BatchNorm(b) = &bn else {
            unreachable!()
        };
        let gmean = b.gamma.w.iter().sum::<f32>() / 1000.0;
        assert!((gmean - 1.0).abs() < 0.005 && b.beta.w.iter().all(|&v| v == 0.0));
    }
}
