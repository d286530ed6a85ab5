//! Linear: `y[out, N] = W[out, in] · x[in, N] + b` (inputs as `[in, N, 1, 1]` tensors).
//! Backward: `dW += dy · xᵀ`, `db += Σ_N dy`, `dx = Wᵀ · dy`.
//! [`flatten_forward`] turns `[C, N, H, W]` into `[C*H*W, N, 1, 1]` in PyTorch's flatten order.

use super::conv2d::sum_channels_into;
use super::gemm::gemm;
use super::{Param, Tensor};

/// A fully connected layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// Input features.
    pub fin: usize,
    /// Output features.
    pub fout: usize,
    /// Weights, `[fout, fin]`.
    pub weight: Param,
    /// Bias, `[fout]`.
    pub bias: Param,
}

impl Linear {
    /// A zero-initialised layer.
    pub fn new(fin: usize, fout: usize) -> Self {
        Linear {
            fin,
            fout,
            weight: Param::zeros(&[fout, fin]),
            bias: Param::zeros(&[fout]),
        }
    }
    /// `y = W x + b`.
    pub fn forward(&self, y: &mut Tensor, x: &Tensor) {
        let n = x.n;
        y.reset(self.fout, n, 1, 1);
        gemm(
            self.fout,
            self.fin,
            n,
            &self.weight.w,
            self.fin,
            1,
            &x.data,
            n,
            1,
            0.0,
            &mut y.data,
        );
        super::conv2d::add_channel_bias(&mut y.data, &self.bias.w, n);
    }
    /// Accumulates weight gradients (when `dw`) and writes `dx` (when given).
    pub fn backward(&mut self, dx: Option<&mut Tensor>, dy: &Tensor, x: &Tensor, dw: bool) {
        let n = x.n;
        if dw {
            gemm(
                self.fout,
                n,
                self.fin,
                &dy.data,
                n,
                1,
                &x.data,
                1,
                n,
                1.0,
                &mut self.weight.g,
            );
            sum_channels_into(&mut self.bias.g, &dy.data, n);
        }
        if let Some(dx) = dx {
            dx.reset(x.c, x.n, x.h, x.w);
            gemm(
                self.fin,
                self.fout,
                n,
                &self.weight.w,
                1,
                self.fin,
                &dy.data,
                n,
                1,
                0.0,
                &mut dx.data,
            );
        }
    }
}

/// `[C, N, H, W]` -> `[C*H*W, N, 1, 1]` (feature index `(c*H + h)*W + w`, as PyTorch).
pub fn flatten_forward(y: &mut Tensor, x: &Tensor) {
    let hw = x.h * x.w;
    y.reset(x.c * hw, x.n, 1, 1);
    for c in 0..x.c {
        for n in 0..x.n {
            for i in 0..hw {
                y.data[(c * hw + i) * x.n + n] = x.data[(c * x.n + n) * hw + i];
            }
        }
    }
}

/// The inverse permutation of [`flatten_forward`], for gradients.
pub fn flatten_backward(dx: &mut Tensor, dy: &Tensor, x: &Tensor) {
    let hw = x.h * x.w;
    dx.reset(x.c, x.n, x.h, x.w);
    for c in 0..x.c {
        for n in 0..x.n {
            for i in 0..hw {
                dx.data[(c * x.n + n) * hw + i] = dy.data[(c * hw + i) * x.n + n];
            }
        }
    }
}
