//! Element-wise activations. Each backward uses the forward's output `y` (for ReLU and
//! LeakyReLU with a positive slope, `y > 0` exactly when `x > 0`; for tanh, `1 - y²`).

use rayon::prelude::*;

use super::Tensor;

const CHUNK: usize = 1 << 14;

fn map(y: &mut Tensor, x: &Tensor, f: impl Fn(f32) -> f32 + Sync) {
    y.reset(x.c, x.n, x.h, x.w);
    y.data
        .par_chunks_mut(CHUNK)
        .zip(x.data.par_chunks(CHUNK))
        .for_each(|(ys, xs)| {
            ys.iter_mut().zip(xs).for_each(|(o, &v)| *o = f(v));
        });
}

fn map_back(dx: &mut Tensor, dy: &Tensor, y: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync) {
    dx.reset(dy.c, dy.n, dy.h, dy.w);
    dx.data
        .par_chunks_mut(CHUNK)
        .zip(dy.data.par_chunks(CHUNK))
        .zip(y.data.par_chunks(CHUNK))
        .for_each(|((o, d), yy)| {
            o.iter_mut()
                .zip(d)
                .zip(yy)
                .for_each(|((o, &d), &y)| *o = f(d, y));
        });
}

/// `y = max(0, x)`.
pub fn relu_forward(y: &mut Tensor, x: &Tensor) {
    map(y, x, |v| v.max(0.0));
}
/// `dx = dy * [y > 0]`.
pub fn relu_backward(dx: &mut Tensor, dy: &Tensor, y: &Tensor) {
    map_back(dx, dy, y, |d, y| if y > 0.0 { d } else { 0.0 });
}
/// `y = x` for `x > 0`, else `slope * x`.
pub fn leaky_relu_forward(y: &mut Tensor, x: &Tensor, slope: f32) {
    map(y, x, |v| if v > 0.0 { v } else { v * slope });
}
/// `dx = dy` where `y > 0`, else `slope * dy`.
pub fn leaky_relu_backward(dx: &mut Tensor, dy: &Tensor, y: &Tensor, slope: f32) {
    map_back(dx, dy, y, |d, y| if y > 0.0 { d } else { d * slope });
}
/// `y = tanh(x)`.
pub fn tanh_forward(y: &mut Tensor, x: &Tensor) {
    map(y, x, f32::tanh);
}
/// `dx = dy * (1 - y²)`.
pub fn tanh_backward(dx: &mut Tensor, dy: &Tensor, y: &Tensor) {
    map_back(dx, dy, y, |d, y| d * (1.0 - y * y));
}
