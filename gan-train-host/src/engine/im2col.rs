//! im2col / col2im for `[C, N, H, W]` tensors.
//!
//! For a convolution with kernel `k`, stride `s`, padding `p` from an `h x w` input to an
//! `oh x ow` output, `cols[(c*k + ky)*k + kx, (n*oh + oy)*ow + ox] = x[c, n, oy*s - p + ky,
//! ox*s - p + kx]` (0 outside the input). col2im is its adjoint: it adds every column entry
//! back to the input position it was read from. Rows are independent, so both run in
//! parallel over channels.

use rayon::prelude::*;

/// Geometry of one convolution in the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    /// Channels of the image side.
    pub c: usize,
    /// Batch.
    pub n: usize,
    /// Image height.
    pub h: usize,
    /// Image width.
    pub w: usize,
    /// Kernel.
    pub k: usize,
    /// Stride.
    pub s: usize,
    /// Padding.
    pub p: usize,
    /// Output (column side) height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Geom {
    /// Rows of the column matrix.
    pub fn rows(&self) -> usize {
        self.c * self.k * self.k
    }
    /// Columns of the column matrix.
    pub fn cols(&self) -> usize {
        self.n * self.oh * self.ow
    }
}

/// The output columns `lo..hi` whose tap at kernel offset `kk` lands inside an input side of
/// `n` (`i = o*s + kk - p`), found once instead of tested per element.
fn valid_outputs(kk: usize, n: usize, s: usize, p: usize, out: usize) -> (usize, usize) {
    let lo = if p > kk { (p - kk).div_ceil(s) } else { 0 }.min(out);
    let hi = if n + p > kk {
        ((n - 1 + p - kk) / s + 1).min(out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// `cols` (`[c*k*k, n*oh*ow]`) from `x` (`[c, n, h, w]`). Parallel over rows.
pub fn im2col(cols: &mut [f32], x: &[f32], g: &Geom) {
    let ncol = g.cols();
    cols[..g.rows() * ncol]
        .par_chunks_mut(ncol)
        .enumerate()
        .for_each(|(r, row)| {
            let (c, ky, kx) = (r / (g.k * g.k), (r / g.k) % g.k, r % g.k);
            let (lo, hi) = valid_outputs(kx, g.w, g.s, g.p, g.ow);
            for n in 0..g.n {
                let img = &x[(c * g.n + n) * g.h * g.w..(c * g.n + n + 1) * g.h * g.w];
                for oy in 0..g.oh {
                    let iy = (oy * g.s + ky) as isize - g.p as isize;
                    let dst = &mut row[(n * g.oh + oy) * g.ow..(n * g.oh + oy + 1) * g.ow];
                    if iy < 0 || iy >= g.h as isize || lo == hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &img[iy as usize * g.w..(iy as usize + 1) * g.w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let ix0 = lo * g.s + kx - g.p;
                    if g.s == 1 {
                        dst[lo..hi].copy_from_slice(&src[ix0..ix0 + hi - lo]);
                    } else {
                        dst[lo..hi]
                            .iter_mut()
                            .zip(src[ix0..].iter().step_by(g.s))
                            .for_each(|(d, &v)| *d = v);
                    }
                }
            }
        });
}

/// `x += col2im(cols)`: the adjoint of [`im2col`]. Parallel over the `c * n` images of `x`.
pub fn col2im_add(x: &mut [f32], cols: &[f32], g: &Geom) {
    let ncol = g.cols();
    let hw = g.h * g.w;
    x[..g.c * g.n * hw]
        .par_chunks_mut(hw)
        .enumerate()
        .for_each(|(img_index, img)| {
            let (c, n) = (img_index / g.n, img_index % g.n);
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let (lo, hi) = valid_outputs(kx, g.w, g.s, g.p, g.ow);
                    if lo == hi {
                        continue;
                    }
                    let r = (c * g.k + ky) * g.k + kx;
                    let row = &cols[r * ncol..(r + 1) * ncol];
                    let ix0 = lo * g.s + kx - g.p;
                    for oy in 0..g.oh {
                        let iy = (oy * g.s + ky) as isize - g.p as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        let src = &row[(n * g.oh + oy) * g.ow + lo..(n * g.oh + oy) * g.ow + hi];
                        let dst = &mut img[iy as usize * g.w + ix0..(iy as usize + 1) * g.w];
                        dst.iter_mut()
                            .step_by(g.s)
                            .zip(src)
                            .for_each(|(d, &v)| *d += v);
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Rng;

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> == <x, col2im(y)> for random x, y: the defining property.
        let mut rng = Rng::new(3);
        for _ in 0..30 {
            let k = [1, 3, 4, 5][rng.below(4)];
            let (s, p) = (1 + rng.below(2), rng.below(k));
            let (h, w) = (k + rng.below(6), k + rng.below(6));
            let g = Geom {
                c: 1 + rng.below(3),
                n: 1 + rng.below(3),
                h,
                w,
                k,
                s,
                p,
                oh: (h + 2 * p - k) / s + 1,
                ow: (w + 2 * p - k) / s + 1,
            };
            let x: Vec<f32> = (0..g.c * g.n * h * w).map(|_| rng.normal()).collect();
            let y: Vec<f32> = (0..g.rows() * g.cols()).map(|_| rng.normal()).collect();
            let mut cols = vec![0.0; y.len()];
            im2col(&mut cols, &x, &g);
            let mut back = vec![0.0; x.len()];
            col2im_add(&mut back, &y, &g);
            let lhs: f64 = cols
                .iter()
                .zip(&y)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&back)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
                "{lhs} vs {rhs}"
            );
        }
    }
}
