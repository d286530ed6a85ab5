//! im2col / col2im for `[C, N, H, W]` tensors.
//!
//! For a convolution with kernel `k`, stride `s`, padding `p` from an `h x w` input to an
//! `oh x ow` output, `cols[(c*k + ky)*k + kx, (n*oh + oy)*ow + ox] = x[c, n, oy*s - p + ky,
//! ox*s - p + kx]` (0 outside the input). col2im is its adjoint: it adds every column entry
//! back to the input position it was read from. Both work on a chunk of samples at a time (see
//! `conv_core`), so the column matrix of a chunk stays in cache.

use super::packed_gemm::NR;

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

/// Where every entry of a chunk's column matrix comes from.
///
/// A chunk of up to `nb` samples of one channel is contiguous in a `[c, n, h, w]` tensor. It is
/// copied into a scratch buffer of `nb*h*w` values followed by `ncp` more (zeros when packing,
/// one discarded sum per column for col2im, so padding taps never chain through one cell).
/// `off[t*ncp + j]` is the scratch index that row `(c, t)`, column `j` of the column matrix
/// reads (or col2im adds to), for every channel `c`; `ncp` is the chunk's column count rounded
/// up to the GEMM panel width. Every lookup is then one table load and no branch: the rows here
/// are short (7 outputs wide for the 7x7 layers), so per-row set-up, not bandwidth, is what
/// would cost.
pub struct ChunkTable {
    off: Vec<u32>,
    /// The same offsets column-major: `off_t[j*taps + t] = off[t*ncp + j]`.
    off_t: Vec<u32>,
    nb: usize,
    ncp: usize,
    hw: usize,
}

impl ChunkTable {
    /// The table for chunks of at most `nb` samples of geometry `g` (plus `NR` columns, so a
    /// packed column range may start inside its first sample).
    pub fn new(g: &Geom, nb: usize) -> Self {
        let (hw, ohw, taps) = (g.h * g.w, g.oh * g.ow, g.k * g.k);
        let ncp = (nb * ohw).div_ceil(NR) * NR + NR;
        assert!(nb * hw + ncp < u32::MAX as usize, "chunk too large");
        let mut off = Vec::with_capacity(taps * ncp);
        for ky in 0..g.k {
            for kx in 0..g.k {
                for j in 0..ncp {
                    let (n, oy, ox) = (j / ohw, (j % ohw) / g.ow, j % g.ow);
                    let iy = (oy * g.s + ky) as isize - g.p as isize;
                    let ix = (ox * g.s + kx) as isize - g.p as isize;
                    let inside = n < nb
                        && (0..g.h as isize).contains(&iy)
                        && (0..g.w as isize).contains(&ix);
                    off.push(if inside {
                        (n * hw + iy as usize * g.w + ix as usize) as u32
                    } else {
                        (nb * hw + j) as u32
                    });
                }
            }
        }
        let mut off_t = vec![0; off.len()];
        for (t, row) in off.chunks_exact(ncp).enumerate() {
            for (j, &o) in row.iter().enumerate() {
                off_t[j * taps + t] = o;
            }
        }
        let t = ChunkTable {
            off,
            off_t,
            nb,
            ncp,
            hw,
        };
        // What makes the unchecked lookups below sound.
        assert!(t.off.iter().all(|&o| (o as usize) < t.scratch_len()));
        assert!(t.off_t.iter().all(|&o| (o as usize) < t.scratch_len()));
        t
    }

    /// Length of the scratch buffer.
    fn scratch_len(&self) -> usize {
        self.nb * self.hw + self.ncp
    }

    /// The offsets of tap `t`.
    fn tap(&self, t: usize) -> &[u32] {
        &self.off[t * self.ncp..][..self.ncp]
    }
}

/// The chunk's images of channel `c` from `x` into `scratch` (the rest of `scratch` is left).
fn load_channel(scratch: &mut [f32], x: &[f32], g: &Geom, c: usize, (n0, n1): (usize, usize)) {
    let hw = g.h * g.w;
    scratch[..(n1 - n0) * hw].copy_from_slice(&x[(c * g.n + n0) * hw..(c * g.n + n1) * hw]);
}

/// The channels and, per channel, the taps that rows `rows` of a column matrix cover.
fn row_span(
    rows: &std::ops::Range<usize>,
    taps: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let (start, end) = (rows.start, rows.end);
    (start / taps..end.div_ceil(taps)).map(move |c| {
        (
            c,
            start.max(c * taps) - c * taps,
            end.min((c + 1) * taps) - c * taps,
        )
    })
}

/// Packs rows `rows` and columns `cols` of the batch's column matrix as the `B` operand of
/// `packed_gemm` (`k` = the rows, `n` = the columns) into `out`. The columns may start and
/// end inside samples; `tb` must cover the samples they touch.
pub fn pack_cols(
    out: &mut [f32],
    x: &[f32],
    g: &Geom,
    tb: &ChunkTable,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
) {
    let (taps, ohw, k) = (g.k * g.k, g.oh * g.ow, rows.len());
    let samples = (cols.start / ohw, cols.end.div_ceil(ohw));
    let skip = cols.start - samples.0 * ohw;
    let ncp = cols.len().div_ceil(NR) * NR;
    assert!(samples.1 - samples.0 <= tb.nb && skip + ncp <= tb.ncp);
    assert!(x.len() >= g.c * g.n * g.h * g.w && out.len() >= ncp * k);
    let mut scratch = vec![0f32; tb.scratch_len()];
    for (c, t0, t1) in row_span(&rows, taps) {
        load_channel(&mut scratch, x, g, c, samples);
        for t in t0..t1 {
            let p = c * taps + t - rows.start;
            for (jp, offs) in tb.tap(t)[skip..skip + ncp].chunks_exact(NR).enumerate() {
                let dst = &mut out[jp * NR * k + p * NR..][..NR];
                for (d, &o) in dst.iter_mut().zip(offs) {
                    // SAFETY: every offset of the table is below its scratch length (built so
                    // in `ChunkTable::new`), and `scratch` has that length.
                    *d = unsafe { *scratch.get_unchecked(o as usize) };
                }
            }
        }
    }
}

/// Packs the transpose of rows `rows` of the column matrix of the samples of `chunk` as the
/// `B` operand of `packed_gemm` (`k` = the chunk's columns, `n` = the rows) into `out`.
pub fn pack_cols_t(
    out: &mut [f32],
    x: &[f32],
    g: &Geom,
    tb: &ChunkTable,
    chunk: (usize, usize),
    rows: std::ops::Range<usize>,
) {
    let (taps, nc) = (g.k * g.k, (chunk.1 - chunk.0) * g.oh * g.ow);
    assert!(chunk.1 - chunk.0 <= tb.nb && x.len() >= g.c * g.n * g.h * g.w);
    assert!(out.len() >= rows.len().div_ceil(NR) * NR * nc);
    let mut scratch = vec![0f32; tb.scratch_len()];
    // When a panel's NR rows are NR taps of one channel, write each column's NR values
    // contiguously from the column-major offsets.
    let aligned = taps % NR == 0 && rows.start % NR == 0;
    for (c, t0, t1) in row_span(&rows, taps) {
        load_channel(&mut scratch, x, g, c, chunk);
        if aligned {
            for tp in (t0..t1).step_by(NR) {
                let (p, w) = (c * taps + tp - rows.start, NR.min(t1 - tp));
                let dst = &mut out[(p / NR) * NR * nc..][..NR * nc];
                for (j, d) in dst.chunks_exact_mut(NR).enumerate() {
                    let offs = &tb.off_t[j * taps + tp..][..w];
                    for (d, &o) in d.iter_mut().zip(offs) {
                        // SAFETY: as in `pack_cols`.
                        *d = unsafe { *scratch.get_unchecked(o as usize) };
                    }
                }
            }
            continue;
        }
        for t in t0..t1 {
            let p = c * taps + t - rows.start;
            let dst = &mut out[(p / NR) * NR * nc + p % NR..];
            for (d, &o) in dst.iter_mut().step_by(NR).zip(&tb.tap(t)[..nc]) {
                // SAFETY: as in `pack_cols`.
                *d = unsafe { *scratch.get_unchecked(o as usize) };
            }
        }
    }
}

/// Channels `channels` of the samples of `chunk` in `x` (`[c, n, h, w]`) `= col2im(cols)`:
/// the adjoint of those rows of the column matrix of the same chunk (`cols`: rows
/// `(c - channels.start)*k*k + t`, one per channel and tap, each `chunk columns` long,
/// row-major), overwriting those samples. Serial.
///
/// # Safety
/// `x` must point to the whole `[c, n, h, w]` tensor; only the chunk's samples of those
/// channels are touched, so chunks with disjoint sample or channel ranges may run at once.
pub unsafe fn col2im_range(
    x: *mut f32,
    cols: &[f32],
    g: &Geom,
    tb: &ChunkTable,
    chunk: (usize, usize),
    channels: std::ops::Range<usize>,
) {
    let (hw, taps) = (g.h * g.w, g.k * g.k);
    let (nb, nc) = (chunk.1 - chunk.0, (chunk.1 - chunk.0) * g.oh * g.ow);
    assert!(nb <= tb.nb && channels.end <= g.c && cols.len() >= channels.len() * taps * nc);
    let mut scratch = vec![0f32; tb.scratch_len()];
    for c in channels.clone() {
        scratch.fill(0.0);
        for t in 0..taps {
            let src = &cols[((c - channels.start) * taps + t) * nc..][..nc];
            for (&v, &o) in src.iter().zip(tb.tap(t)) {
                // SAFETY: as in `pack_cols`.
                unsafe { *scratch.get_unchecked_mut(o as usize) += v };
            }
        }
        // SAFETY: the chunk's samples of channel c are inside the tensor and this chunk's own.
        unsafe { std::slice::from_raw_parts_mut(x.add((c * g.n + chunk.0) * hw), nb * hw) }
            .copy_from_slice(&scratch[..nb * hw]);
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
    fn packed_column_matrices_match_the_definition() {
        let mut rng = Rng::new(4);
        for _ in 0..200 {
            let g = random_geom(&mut rng);
            let n0 = rng.below(g.n);
            let n1 = n0 + 1 + rng.below(g.n - n0);
            let x: Vec<f32> = (0..g.c * g.n * g.h * g.w).map(|_| rng.normal()).collect();
            // Bands start anywhere, or on a panel boundary (the contiguous path for k = 4).
            let r0 = match rng.below(2) {
                0 => rng.below(g.rows()),
                _ => rng.below(g.rows()) / NR * NR,
            };
            let r1 = (g.rows() - rng.below(2)).max(r0 + 1);
            let (k, ncol) = (r1 - r0, (n1 - n0) * g.oh * g.ow);
            let all = naive_im2col(&x, &g, n0, n1);
            // A table for chunks of up to `nb` samples serves this smaller chunk too.
            let tb = ChunkTable::new(&g, n1 - n0 + rng.below(3));
            let mut bt = vec![f32::NAN; k.div_ceil(NR) * NR * ncol];
            pack_cols_t(&mut bt, &x, &g, &tb, (n0, n1), r0..r1);
            // Columns j0..j1 of the chunk, starting and ending anywhere inside its samples.
            let j0 = rng.below(ncol);
            let j1 = j0 + 1 + rng.below(ncol - j0);
            let base = n0 * g.oh * g.ow;
            let mut b = vec![f32::NAN; (j1 - j0).div_ceil(NR) * NR * k];
            pack_cols(&mut b, &x, &g, &tb, base + j0..base + j1, r0..r1);
            for p in 0..k {
                for j in 0..ncol {
                    let want = all[(r0 + p) * ncol + j];
                    assert_eq!(bt[(p / NR) * NR * ncol + j * NR + p % NR], want, "{g:?}");
                    if (j0..j1).contains(&j) {
                        let jl = j - j0;
                        assert_eq!(b[(jl / NR) * NR * k + p * NR + jl % NR], want, "{g:?}");
                    }
                }
            }
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
            // Channels c0..c1 only: the rows of those channels.
            let c0 = rng.below(g.c);
            let c1 = c0 + 1 + rng.below(g.c - c0);
            let (taps, ncol) = (g.k * g.k, (n1 - n0) * g.oh * g.ow);
            let y: Vec<f32> = (0..(c1 - c0) * taps * ncol).map(|_| rng.normal()).collect();
            let cols = naive_im2col(&x, &g, n0, n1);
            let mut back = vec![0.0; x.len()];
            let tb = ChunkTable::new(&g, n1 - n0 + rng.below(3));
            // SAFETY: `back` is the whole tensor.
            unsafe { col2im_range(back.as_mut_ptr(), &y, &g, &tb, (n0, n1), c0..c1) };
            let lhs: f64 = cols[c0 * taps * ncol..c1 * taps * ncol]
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
                let c = i / (hw * g.n);
                assert!(
                    ((n0..n1).contains(&n) && (c0..c1).contains(&c)) || *v == 0.0,
                    "sample {n} channel {c} outside the chunk"
                );
            }
        }
    }
}
