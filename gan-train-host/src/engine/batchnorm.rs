//! BatchNorm2d: batch statistics in training (biased variance for normalising, unbiased for
//! the running estimate, momentum 0.1 as PyTorch), running statistics in evaluation.
//!
//! `xhat = (x - mean) / sqrt(var + eps)`, `y = gamma * xhat + beta`. Backward (training):
//! `dx = inv_std / M * (M * dxhat - Σ dxhat - xhat * Σ(dxhat * xhat))`, `dxhat = dy * gamma`,
//! over the `M = N*H*W` values of a channel.

use rayon::prelude::*;

use super::{dot_f64, sum_f64, Param, Tensor};

/// A batch-normalisation layer over channels.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm2d {
    /// Channels.
    pub c: usize,
    /// Added to the variance.
    pub eps: f32,
    /// Weight of the newest batch in the running statistics.
    pub momentum: f32,
    /// Scale, `[c]`.
    pub gamma: Param,
    /// Shift, `[c]`.
    pub beta: Param,
    /// Running mean, `[c]`.
    pub running_mean: Vec<f32>,
    /// Running (unbiased) variance, `[c]`.
    pub running_var: Vec<f32>,
    xhat: Vec<f32>,
    inv_std: Vec<f32>,
    trained_batch: bool,
}

impl BatchNorm2d {
    /// A layer with gamma 1, beta 0, running statistics (0, 1).
    pub fn new(c: usize) -> Self {
        let mut gamma = Param::zeros(&[c]);
        gamma.w.fill(1.0);
        BatchNorm2d {
            c,
            eps: 1e-5,
            momentum: 0.1,
            gamma,
            beta: Param::zeros(&[c]),
            running_mean: vec![0.0; c],
            running_var: vec![1.0; c],
            xhat: Vec::new(),
            inv_std: vec![0.0; c],
            trained_batch: false,
        }
    }

    /// `x = bn(x)`, in place (the normalised values are kept for backward).
    pub fn forward(&mut self, t: &mut Tensor, train: bool) {
        assert_eq!(t.c, self.c, "batchnorm: channels");
        let m = t.n * t.h * t.w;
        self.xhat.resize(t.len(), 0.0);
        self.trained_batch = train;
        let (eps, mom) = (self.eps, self.momentum);
        let stats: Vec<(f32, f32)> = t
            .data
            .par_chunks_exact_mut(m)
            .zip(self.xhat.par_chunks_exact_mut(m))
            .enumerate()
            .map(|(c, (xs, xh))| {
                let (mean, var) = if train {
                    let mean = sum_f64(xs, |v| v) / m as f64;
                    let var = sum_f64(xs, |v| (v - mean) * (v - mean)) / m as f64;
                    (mean, var)
                } else {
                    (self.running_mean[c] as f64, self.running_var[c] as f64)
                };
                let inv = (1.0 / (var + eps as f64).sqrt()) as f32;
                let (g, b, mean32) = (self.gamma.w[c], self.beta.w[c], mean as f32);
                for (v, h) in xs.iter_mut().zip(xh.iter_mut()) {
                    *h = (*v - mean32) * inv;
                    *v = g * *h + b;
                }
                (mean as f32, var as f32)
            })
            .collect();
        for (c, &(mean, var)) in stats.iter().enumerate() {
            self.inv_std[c] = 1.0 / (var + eps).sqrt();
            if train {
                let unbiased = if m > 1 {
                    var * m as f32 / (m - 1) as f32
                } else {
                    var
                };
                self.running_mean[c] = (1.0 - mom) * self.running_mean[c] + mom * mean;
                self.running_var[c] = (1.0 - mom) * self.running_var[c] + mom * unbiased;
            }
        }
    }

    /// Accumulates gamma/beta gradients (when `dw`) from the gradient at the output `d`, and
    /// turns `d` into the gradient at the input in place (when `want_dx`).
    pub fn backward(&mut self, d: &mut Tensor, want_dx: bool, dw: bool) {
        let m = d.n * d.h * d.w;
        assert_eq!(d.len(), self.xhat.len(), "batchnorm backward: size");
        let sums: Vec<(f64, f64)> = d
            .data
            .par_chunks_exact(m)
            .zip(self.xhat.par_chunks_exact(m))
            .map(|(d, h)| (sum_f64(d, |v| v), dot_f64(d, h)))
            .collect();
        if dw {
            for (c, &(sd, sdh)) in sums.iter().enumerate() {
                self.gamma.g[c] += sdh as f32;
                self.beta.g[c] += sd as f32;
            }
        }
        if want_dx {
            let train = self.trained_batch;
            d.data
                .par_chunks_exact_mut(m)
                .zip(self.xhat.par_chunks_exact(m))
                .enumerate()
                .for_each(|(c, (ds, xh))| {
                    let g = self.gamma.w[c];
                    let inv = self.inv_std[c];
                    if !train {
                        ds.iter_mut().for_each(|v| *v *= g * inv);
                        return;
                    }
                    let (sd, sdh) = sums[c];
                    let (mean_d, mean_dh) = ((sd / m as f64) as f32, (sdh / m as f64) as f32);
                    for (v, &h) in ds.iter_mut().zip(xh) {
                        *v = g * inv * (*v - mean_d - h * mean_dh);
                    }
                });
        }
    }
}
