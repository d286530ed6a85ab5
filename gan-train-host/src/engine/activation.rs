//! Element-wise activations, in place. Closures take their constants by value and choose by
//! select, not branch, so every loop here vectorises. Each backward turns the gradient at the output into the
//! gradient at the input in place, using the forward's output `y` (for ReLU and LeakyReLU with
//! a positive slope, `y > 0` exactly when `x > 0`; for tanh, `1 - y²`).

use rayon::prelude::*;

use super::Tensor;

const CHUNK: usize = 1 << 14;

fn map(t: &mut Tensor, f: impl Fn(f32) -> f32 + Sync) {
    t.data
        .par_chunks_mut(CHUNK)
        .for_each(|xs| xs.iter_mut().for_each(|v| *v = f(*v)));
}

fn map_back(d: &mut Tensor, y: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync) {
    assert_eq!(
        d.len(),
        y.len(),
        "activation backward: gradient and output sizes"
    );
    d.data
        .par_chunks_mut(CHUNK)
        .zip(y.data.par_chunks(CHUNK))
        .for_each(|(ds, ys)| ds.iter_mut().zip(ys).for_each(|(d, &y)| *d = f(*d, y)));
}

/// `x = max(0, x)`.
pub fn relu(t: &mut Tensor) {
    map(t, |v| if v > 0.0 { v } else { 0.0 });
}
/// `d = d * [y > 0]`.
pub fn relu_backward(d: &mut Tensor, y: &Tensor) {
    map_back(d, y, |d, y| if y > 0.0 { d } else { 0.0 });
}
/// `x = x` for `x > 0`, else `slope * x`.
pub fn leaky_relu(t: &mut Tensor, slope: f32) {
    map(t, move |v| v * if v > 0.0 { 1.0 } else { slope });
}
/// `d = d` where `y > 0`, else `slope * d`.
pub fn leaky_relu_backward(d: &mut Tensor, y: &Tensor, slope: f32) {
    map_back(d, y, move |d, y| d * if y > 0.0 { 1.0 } else { slope });
}
/// `x = tanh(x)`.
pub fn tanh(t: &mut Tensor) {
    map(t, f32::tanh);
}
/// `d = d * (1 - y²)`.
pub fn tanh_backward(d: &mut Tensor, y: &Tensor) {
    map_back(d, y, |d, y| d * (1.0 - y * y));
}
