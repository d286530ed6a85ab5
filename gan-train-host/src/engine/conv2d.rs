//! Conv2d (cross-correlation, PyTorch semantics), weights `[out, in, k, k]`.
//!
//! Forward: `cols = im2col(x)`, `y[out, N*oh*ow] = W[out, in*k*k] · cols` (+ bias).
//! Backward: `dW += dy · colsᵀ`, `db += Σ dy`, `dx = col2im(Wᵀ · dy)`.
//! The column matrix is recomputed in backward instead of kept, to keep memory low.

use super::gemm::gemm;
use super::im2col::{col2im_add, im2col, Geom};
use super::{Param, Tensor};

/// A 2-D convolution layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
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
    /// Weights, `[cout, cin, k, k]`.
    pub weight: Param,
    /// Bias, `[cout]`, if any.
    pub bias: Option<Param>,
}

impl Conv2d {
    /// A zero-initialised layer (see `init` for initialisation).
    pub fn new(cin: usize, cout: usize, k: usize, s: usize, p: usize, bias: bool) -> Self {
        Conv2d {
            cin,
            cout,
            k,
            s,
            p,
            weight: Param::zeros(&[cout, cin, k, k]),
            bias: bias.then(|| Param::zeros(&[cout])),
        }
    }

    /// Output height and width for an input of `h x w`.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        (
            (h + 2 * self.p - self.k) / self.s + 1,
            (w + 2 * self.p - self.k) / self.s + 1,
        )
    }

    fn geom(&self, x: &Tensor) -> Geom {
        let (oh, ow) = self.out_hw(x.h, x.w);
        Geom {
            c: self.cin,
            n: x.n,
            h: x.h,
            w: x.w,
            k: self.k,
            s: self.s,
            p: self.p,
            oh,
            ow,
        }
    }

    /// `y = conv(x)`.
    pub fn forward(&self, y: &mut Tensor, x: &Tensor, cols: &mut Vec<f32>) {
        let g = self.geom(x);
        cols.resize(g.rows() * g.cols(), 0.0);
        im2col(cols, &x.data, &g);
        y.reset(self.cout, x.n, g.oh, g.ow);
        let r = g.rows();
        gemm(
            self.cout,
            r,
            g.cols(),
            &self.weight.w,
            r,
            1,
            cols,
            g.cols(),
            1,
            0.0,
            &mut y.data,
        );
        if let Some(b) = &self.bias {
            add_channel_bias(&mut y.data, &b.w, g.cols());
        }
    }

    /// Accumulates weight gradients (when `dw`) and writes `dx` (when given).
    pub fn backward(
        &mut self,
        dx: Option<&mut Tensor>,
        dy: &Tensor,
        x: &Tensor,
        cols: &mut Vec<f32>,
        dw: bool,
    ) {
        let g = self.geom(x);
        let (r, nc) = (g.rows(), g.cols());
        cols.resize(r * nc, 0.0);
        if dw {
            im2col(cols, &x.data, &g);
            gemm(
                self.cout,
                nc,
                r,
                &dy.data,
                nc,
                1,
                cols,
                1,
                nc,
                1.0,
                &mut self.weight.g,
            );
            if let Some(b) = &mut self.bias {
                sum_channels_into(&mut b.g, &dy.data, nc);
            }
        }
        if let Some(dx) = dx {
            gemm(
                r,
                self.cout,
                nc,
                &self.weight.w,
                1,
                r,
                &dy.data,
                nc,
                1,
                0.0,
                cols,
            );
            dx.reset(x.c, x.n, x.h, x.w);
            dx.data.fill(0.0);
            col2im_add(&mut dx.data, cols, &g);
        }
    }
}

/// `y[c, ·] += b[c]` for `[C, per]` data.
pub fn add_channel_bias(y: &mut [f32], b: &[f32], per: usize) {
    for (c, row) in y.chunks_exact_mut(per).enumerate() {
        row.iter_mut().for_each(|v| *v += b[c]);
    }
}

/// `g[c] += Σ dy[c, ·]` for `[C, per]` data.
pub fn sum_channels_into(g: &mut [f32], dy: &[f32], per: usize) {
    for (c, row) in dy.chunks_exact(per).enumerate() {
        g[c] += row.iter().map(|&v| v as f64).sum::<f64>() as f32;
    }
}
