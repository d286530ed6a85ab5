//! ConvTranspose2d (PyTorch semantics incl. `output_padding`), weights `[in, out, k, k]`.
//!
//! The transposed convolution is the adjoint of a convolution from the `oh x ow` output back
//! to the `ih x iw` input. Forward: `y = col2im(Wᵀ · x)` (`W` as `[in, out*k*k]`).
//! Backward: `dW += x · im2col(dy)ᵀ`, `dx = W · im2col(dy)` (see `conv_core`).

use super::conv2d::{add_channel_bias, sum_channels_into};
use super::conv_core::{gather_gemm, gemm_scatter, grad_weights};
use super::im2col::Geom;
use super::{Param, Tensor};

/// A 2-D transposed convolution layer.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose2d {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub s: usize,
    /// Padding.
    pub p: usize,
    /// Output padding (< stride).
    pub op: usize,
    /// Weights, `[cin, cout, k, k]`.
    pub weight: Param,
    /// Bias, `[cout]`, if any.
    pub bias: Option<Param>,
}

impl ConvTranspose2d {
    /// A zero-initialised layer.
    pub fn new(
        cin: usize,
        cout: usize,
        k: usize,
        s: usize,
        p: usize,
        op: usize,
        bias: bool,
    ) -> Self {
        ConvTranspose2d {
            cin,
            cout,
            k,
            s,
            p,
            op,
            weight: Param::zeros(&[cin, cout, k, k]),
            bias: bias.then(|| Param::zeros(&[cout])),
        }
    }

    /// Output height and width for an input of `h x w`.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let side = |n: usize| (n - 1) * self.s + self.k + self.op - 2 * self.p;
        (side(h), side(w))
    }

    /// The geometry of the adjoint convolution (image side = this layer's output).
    fn geom(&self, x: &Tensor) -> Geom {
        let (oh, ow) = self.out_hw(x.h, x.w);
        Geom {
            c: self.cout,
            n: x.n,
            h: oh,
            w: ow,
            k: self.k,
            s: self.s,
            p: self.p,
            oh: x.h,
            ow: x.w,
        }
    }

    /// `y = conv_transpose(x)`.
    pub fn forward(&self, y: &mut Tensor, x: &Tensor) {
        let g = self.geom(x);
        y.reset(self.cout, x.n, g.h, g.w);
        // W is [in, out*k*k]: the adjoint convolution's weight matrix.
        gemm_scatter(&mut y.data, &self.weight.w, self.cin, g.rows(), &x.data, &g);
        if let Some(b) = &self.bias {
            add_channel_bias(&mut y.data, &b.w, x.n * g.h * g.w);
        }
    }

    /// Accumulates weight gradients (when `dw`) and writes `dx` (when given).
    pub fn backward(&mut self, dx: Option<&mut Tensor>, dy: &Tensor, x: &Tensor, dw: bool) {
        let g = self.geom(x);
        if dw {
            grad_weights(
                &mut self.weight.g,
                g.rows(),
                &x.data,
                self.cin,
                &dy.data,
                &g,
            );
            if let Some(b) = &mut self.bias {
                sum_channels_into(&mut b.g, &dy.data, x.n * g.h * g.w);
            }
        }
        if let Some(dx) = dx {
            dx.reset(x.c, x.n, x.h, x.w);
            gather_gemm(
                &mut dx.data,
                &self.weight.w,
                self.cin,
                g.rows(),
                &dy.data,
                &g,
            );
        }
    }
}
