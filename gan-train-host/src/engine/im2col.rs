//! im2col / col2im for `[C, N, H, W]` tensors.
//!
//! For a convolution with kernel `k`, stride `s`, padding `p` from an `h x w` input to an
//! `oh x ow` output, `cols[(c*k + ky)*k + kx, (n*oh + oy)*ow + ox] = x[c, n, oy*s - p + ky,
//! ox*s - p + kx]` (0 outside the input). col2im is its adjoint: it adds every column entry
//! back to the input position it was read from. Both work on a chunk of samples at a time (see
//! `conv_core`), so the column matrix of a chunk stays in cache.

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

/// For each kernel tap `t = ky*k + kx` and output position `j = oy*ow + ox`: the offset
/// `iy*w + ix` in an image that the tap reads there, or `h*w + j` when it falls in the padding
/// (a zero for [`im2col_range`], a discarded sum for [`col2im_range`]; one per position, so
/// padding taps never chain through one memory cell).
fn tap_table(g: &Geom) -> Vec<u32> {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    assert!(hw + ohw < u32::MAX as usize, "image too large");
    let mut tab = Vec::with_capacity(g.k * g.k * ohw);
    for ky in 0..g.k {
        for kx in 0..g.k {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let iy = (oy * g.s + ky) as isize - g.p as isize;
                    let ix = (ox * g.s + kx) as isize - g.p as isize;
                    let inside = (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix);
                    tab.push(if inside {
                        (iy as usize * g.w + ix as usize) as u32
                    } else {
                        (hw + oy * g.ow + ox) as u32
                    });
                }
            }
        }
    }
    tab
}

/// Rows `rows` of the column matrix of samples `n0..n1` of `x` (`[c, n, h, w]`), into `cols`
/// (`[rows.len(), (n1-n0)*oh*ow]`): the column matrix of one chunk of the batch, or a band of
/// its rows. Serial: callers run chunks in parallel.
///
/// Each image is copied once into a scratch buffer followed by zeros, then every tap is a
/// branch-free table lookup ([`tap_table`]): the rows here are short (7 outputs wide for the
/// 7x7 layers), so per-row set-up, not bandwidth, is what costs.
pub fn im2col_range(
    cols: &mut [f32],
    x: &[f32],
    g: &Geom,
    n0: usize,
    n1: usize,
    rows: std::ops::Range<usize>,
) {
    let (hw, ohw, taps) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let ncol = (n1 - n0) * ohw;
    let tab = tap_table(g);
    let mut img = vec![0f32; hw + ohw];
    if rows.is_empty() {
        return;
    }
    for c in rows.start / taps..=(rows.end - 1) / taps {
        let (t0, t1) = (
            rows.start.max(c * taps) - c * taps,
            rows.end.min((c + 1) * taps) - c * taps,
        );
        for n in n0..n1 {
            img[..hw].copy_from_slice(&x[(c * g.n + n) * hw..][..hw]);
            for t in t0..t1 {
                let row = c * taps + t - rows.start;
                let dst = &mut cols[row * ncol + (n - n0) * ohw..][..ohw];
                for (d, &o) in dst.iter_mut().zip(&tab[t * ohw..][..ohw]) {
                    *d = img[o as usize];
                }
            }
        }
    }
}

/// Samples `n0..n1` of `x` (`[c, n, h, w]`) `= col2im(cols)`: the adjoint of
/// [`im2col_range`] for the same chunk, overwriting those samples. Serial.
///
/// # Safety
/// `x` must point to the whole `[c, n, h, w]` tensor; only samples `n0..n1` of each channel are
/// touched, so chunks with disjoint sample ranges may run at once.
pub unsafe fn col2im_range(x: *mut f32, cols: &[f32], g: &Geom, n0: usize, n1: usize) {
    let (hw, ohw, taps) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
    let ncol = (n1 - n0) * ohw;
    let tab = tap_table(g);
    let mut img = vec![0f32; hw + ohw];
    for c in 0..g.c {
        for n in n0..n1 {
            img.fill(0.0);
            for (t, offsets) in tab.chunks_exact(ohw).enumerate() {
                let src = &cols[(c * taps + t) * ncol + (n - n0) * ohw..][..ohw];
                for (&v, &o) in src.iter().zip(offsets) {
                    img[o as usize] += v;
                }
            }
            // SAFETY: sample n of channel c, inside the tensor and owned by this chunk.
            unsafe { std::slice::from_raw_parts_mut(x.add((c * g.n + n) * hw), hw) }
                .copy_from_slice(&img[..hw]);
        }
    }
}

#[cfg(test)]
pub(crate) mod naive {
    //! Plain definitions the fast paths are tested against.
    use super::Geom;
    use crate::engine::Rng;

    pub(crate) fn random_geom(rng: &mut Rng) -> Geom {
        let k = [1, 2, 3, 4, 5, 7][rng.below(6)];
        let (s, p) = (1 + rng.below(3), rng.below(k));
        let (h, w) = (k + rng.below(7), k + rng.below(7));
        Geom {
            c: 1 + rng.below(3),
            n: 1 + rng.below(4),
            h,
            w,
            k,
            s,
            p,
            oh: (h + 2 * p - k) / s + 1,
            ow: (w + 2 * p - k) / s + 1,
        }
    }

    /// The definition, element by element.
    pub(crate) fn naive_im2col(x: &[f32], g: &Geom, n0: usize, n1: usize) -> Vec<f32> {
        let ncol = (n1 - n0) * g.oh * g.ow;
        let mut cols = vec![0.0; g.rows() * ncol];
        for c in 0..g.c {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    for n in n0..n1 {
                        for oy in 0..g.oh {
                            for ox in 0..g.ow {
                                let iy = (oy * g.s + ky) as isize - g.p as isize;
                                let ix = (ox * g.s + kx) as isize - g.p as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let r = (c * g.k + ky) * g.k + kx;
                                let col = ((n - n0) * g.oh + oy) * g.ow + ox;
                                cols[r * ncol + col] =
                                    x[((c * g.n + n) * g.h + iy as usize) * g.w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        cols
    }
}

#[cfg(test)]
mod tests {
    use super::naive::*;
    use super::*;
    use crate::engine::Rng;

    #[test]
    fn im2col_range_matches_the_definition() {
        let mut rng = Rng::new(4);
        for _ in 0..200 {
            let g = random_geom(&mut rng);
            let n0 = rng.below(g.n);
            let n1 = n0 + 1 + rng.below(g.n - n0);
            let x: Vec<f32> = (0..g.c * g.n * g.h * g.w).map(|_| rng.normal()).collect();
            let (r0, r1) = (rng.below(g.rows()), g.rows() - rng.below(2));
            let ncol = (n1 - n0) * g.oh * g.ow;
            let all = naive_im2col(&x, &g, n0, n1);
            let want = &all[r0 * ncol..r1.max(r0) * ncol];
            let mut got = vec![f32::NAN; want.len()];
            im2col_range(&mut got, &x, &g, n0, n1, r0..r1.max(r0));
            assert_eq!(got, want, "{g:?} samples {n0}..{n1} rows {r0}..{r1}");
        }
    }

    #[test]
    fn col2im_range_is_the_adjoint_of_im2col_range() {
        // <im2col(x), y> == <x, col2im(y)> for random x, y: the defining property; samples
        // outside the chunk stay untouched.
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let g = random_geom(&mut rng);
            let n0 = rng.below(g.n);
            let n1 = n0 + 1 + rng.below(g.n - n0);
            let x: Vec<f32> = (0..g.c * g.n * g.h * g.w).map(|_| rng.normal()).collect();
            let y: Vec<f32> = (0..g.rows() * (n1 - n0) * g.oh * g.ow)
                .map(|_| rng.normal())
                .collect();
            let cols = naive_im2col(&x, &g, n0, n1);
            let mut back = vec![0.0; x.len()];
            // SAFETY: `back` is the whole tensor.
            unsafe { col2im_range(back.as_mut_ptr(), &y, &g, n0, n1) };
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
                (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
                "{lhs} vs {rhs}"
            );
            let hw = g.h * g.w;
            for (i, v) in back.iter().enumerate() {
                let n = (i / hw) % g.n;
                assert!(
                    (n0..n1).contains(&n) || *v == 0.0,
                    "sample {n} outside the chunk"
                );
            }
        }
    }
}
