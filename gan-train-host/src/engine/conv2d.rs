//! Conv2d (cross-correlation, PyTorch semantics), weights `[out, in, k, k]`.
//!
//! Forward: `y[out, N*oh*ow] = W[out, in*k*k] · im2col(x)` (+ bias).
//! Backward: `dW += dy · im2col(x)ᵀ`, `db += Σ dy`, `dx = col2im(Wᵀ · dy)`.
//! The column matrix is built a chunk of samples at a time and never kept (see `conv_core`).
//!
//! **Label planes.** A conditional discriminator's input ends with one constant plane per
//! class (1 on the sample's class, 0 elsewhere). With `label_planes = C` the layer takes the
//! image channels as its input and the classes as labels: the planes' contribution is, per
//! sample, the class's response map `R[c][o][oy][ox] = Σ W[o, c_img + c, ky, kx]` over the
//! taps inside the image, and their weight gradient is `Σ` over the taps of the per-class sums
//! of `dy`. Same results as materialising the planes (tested), without gathering or multiplying
//! `C` constant channels.

use rayon::prelude::*;

use super::conv_core::{gather_gemm, gemm_scatter, grad_weights};
use super::im2col::Geom;
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
    /// Trailing input channels that are one-hot label planes, given as labels (0 = none).
    pub label_planes: usize,
    labels: Vec<u8>,
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
            label_planes: 0,
            labels: Vec::new(),
        }
    }

    /// The last `classes` input channels become one-hot label planes given by
    /// [`set_labels`](Self::set_labels).
    pub fn with_label_planes(mut self, classes: usize) -> Self {
        assert!(
            classes < self.cin,
            "label planes need at least one image channel"
        );
        self.label_planes = classes;
        self
    }

    /// The class of each sample of the next forward/backward pass.
    pub fn set_labels(&mut self, labels: &[u8]) {
        self.labels.clear();
        self.labels.extend_from_slice(labels);
    }

    /// The kernel offsets `kk` at which output `o` reads inside an input side of `n`
    /// (`0 <= o*s + kk - p < n`).
    fn taps_inside(&self, o: usize, n: usize) -> std::ops::Range<usize> {
        let lo = self.p.saturating_sub(o * self.s).min(self.k);
        let hi = (n + self.p).saturating_sub(o * self.s).min(self.k);
        lo..hi.max(lo)
    }

    /// The outputs `o < out` whose kernel offset `kk` reads inside an input side of `n`.
    fn outputs_inside(&self, kk: usize, n: usize, out: usize) -> std::ops::Range<usize> {
        let lo = self.p.saturating_sub(kk).div_ceil(self.s).min(out);
        let hi = (n + self.p).saturating_sub(kk).div_ceil(self.s).min(out);
        lo..hi.max(lo)
    }

    /// `map[oy*ow + ox] = Σ W[o, c_img + c, ky, kx]` over the taps inside an `h x w` image:
    /// the response of output channel `o` to the plane of class `c`.
    fn label_plane_response(&self, map: &mut [f32], o: usize, c: usize, h: usize, w: usize) {
        let ow = map.len() / self.out_hw(h, w).0.max(1);
        let wbase = (o * self.cin + self.cin - self.label_planes + c) * self.k * self.k;
        for (oy, row) in map.chunks_exact_mut(ow).enumerate() {
            for (ox, m) in row.iter_mut().enumerate() {
                let mut sum = 0.0;
                for ky in self.taps_inside(oy, h) {
                    let wrow = &self.weight.w[wbase + ky * self.k..][..self.k];
                    sum += wrow[self.taps_inside(ox, w)].iter().sum::<f32>();
                }
                *m = sum;
            }
        }
    }

    /// `y[o, n] += R[label_n][o]`: the label planes' response (see the module docs).
    fn add_label_planes(&self, y: &mut Tensor, h: usize, w: usize) {
        let (n, ohw) = (y.n, y.h * y.w);
        // Output channels in parallel: each owns its block of `y`.
        y.data[..self.cout * n * ohw]
            .par_chunks_mut(n * ohw)
            .enumerate()
            .for_each(|(o, block)| {
                let mut maps = vec![0f32; self.label_planes * ohw];
                for (c, map) in maps.chunks_exact_mut(ohw).enumerate() {
                    self.label_plane_response(map, o, c, h, w);
                }
                for (dst, &label) in block.chunks_exact_mut(ohw).zip(&self.labels) {
                    let map = &maps[label as usize * ohw..][..ohw];
                    dst.iter_mut().zip(map).for_each(|(d, &m)| *d += m);
                }
            });
    }

    /// Accumulates the label planes' weight gradients from `dy`.
    fn label_plane_grads(&mut self, dy: &Tensor, h: usize, w: usize) {
        let (kk, cimg, n, ohw) = (
            self.k * self.k,
            self.cin - self.label_planes,
            dy.n,
            dy.h * dy.w,
        );
        let mut grads = std::mem::take(&mut self.weight.g);
        // Output channels in parallel: each owns its row of the weight gradient. Per class:
        // the sum of dy over the samples of that class, then its sum over the output
        // positions each tap reaches.
        grads
            .par_chunks_mut(self.cin * kk)
            .enumerate()
            .for_each(|(o, g_row)| {
                let mut sums = vec![0f64; self.label_planes * ohw];
                let block = &dy.data[o * n * ohw..][..n * ohw];
                for (src, &label) in block.chunks_exact(ohw).zip(&self.labels) {
                    let dst = &mut sums[label as usize * ohw..][..ohw];
                    dst.iter_mut().zip(src).for_each(|(d, &v)| *d += v as f64);
                }
                for (c, s) in sums.chunks_exact(ohw).enumerate() {
                    for ky in 0..self.k {
                        for kx in 0..self.k {
                            let mut g = 0f64;
                            for oy in self.outputs_inside(ky, h, dy.h) {
                                g += s[oy * dy.w..][self.outputs_inside(kx, w, dy.w)]
                                    .iter()
                                    .sum::<f64>();
                            }
                            g_row[(cimg + c) * kk + ky * self.k + kx] += g as f32;
                        }
                    }
                }
            });
        self.weight.g = grads;
    }

    /// Output height and width for an input of `h x w`.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        (
            (h + 2 * self.p - self.k) / self.s + 1,
            (w + 2 * self.p - self.k) / self.s + 1,
        )
    }

    fn geom(&self, x: &Tensor) -> Geom {
        // The im2col geometry covers the image channels: all inputs but the label planes.
        assert_eq!(x.c + self.label_planes, self.cin, "conv2d: input channels");
        assert!(
            self.label_planes == 0 || self.labels.len() == x.n,
            "conv2d: one label per sample"
        );
        let (oh, ow) = self.out_hw(x.h, x.w);
        Geom {
            c: x.c,
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

    /// `y = conv(x)` (x: the image channels; label planes come from the labels).
    pub fn forward(&self, y: &mut Tensor, x: &Tensor) {
        let g = self.geom(x);
        let full = self.cin * self.k * self.k;
        y.reset(self.cout, x.n, g.oh, g.ow);
        // Weight rows are `full` long; the image channels are their first `g.rows()` columns.
        gather_gemm(&mut y.data, &self.weight.w, self.cout, full, &x.data, &g);
        if let Some(b) = &self.bias {
            add_channel_bias(&mut y.data, &b.w, g.cols());
        }
        if self.label_planes > 0 {
            self.add_label_planes(y, x.h, x.w);
        }
    }

    /// Accumulates weight gradients (when `dw`) and writes `dx` (when given, image channels).
    pub fn backward(&mut self, dx: Option<&mut Tensor>, dy: &Tensor, x: &Tensor, dw: bool) {
        let g = self.geom(x);
        let full = self.cin * self.k * self.k;
        if dw {
            grad_weights(&mut self.weight.g, full, &dy.data, self.cout, &x.data, &g);
            if let Some(b) = &mut self.bias {
                sum_channels_into(&mut b.g, &dy.data, g.cols());
            }
            if self.label_planes > 0 {
                self.label_plane_grads(dy, x.h, x.w);
            }
        }
        if let Some(dx) = dx {
            dx.reset(x.c, x.n, x.h, x.w);
            gemm_scatter(&mut dx.data, &self.weight.w, self.cout, full, &dy.data, &g);
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
        g[c] += super::sum_f64(row, |v| v) as f32;
    }
}
