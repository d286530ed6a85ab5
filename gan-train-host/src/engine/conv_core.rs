//! The three products every convolution layer is made of, run over the batch in chunks of
//! samples.
//!
//! With the column matrix `cols = im2col(img)` of a [`Geom`] (`[rows, n*oh*ow]`):
//! - [`gather_gemm`]: `out = W · cols` (Conv2d forward, ConvTranspose2d input gradient);
//! - [`gemm_scatter`]: `img = col2im(Wᵀ · src)` (Conv2d input gradient, ConvTranspose2d
//!   forward);
//! - [`grad_weights`]: `dW += src · colsᵀ` (the weight gradient of both).
//!
//! The whole column matrix is never built: each chunk of the batch gets its own, sized to stay in
//! a core's L2 cache (a thread-local buffer reused from call to call), and chunks run in
//! parallel (bands of rows for the weight gradient). That keeps the im2col/col2im traffic in
//! cache and the memory small, and it needs no synchronisation inside a product. Chunking
//! depends only on the geometry, so results do not depend on the thread count.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::thread::LocalKey;

use rayon::prelude::*;

use super::im2col::{col2im_range, pack_cols, pack_cols_t, ChunkTable, Geom};
use super::packed_gemm::{gemm_packed, pack_a, pack_b, packed_a_len, packed_b_len, KC, MR, NR};

/// Floats in one chunk's column matrix (512 KiB, half an L2 cache of the machines measured).
const CHUNK_FLOATS: usize = 1 << 17;
/// At least this many chunks per batch when the batch allows, so every core gets work.
const MIN_CHUNKS: usize = 8;

thread_local! {
    /// Packed `B` panels of the current chunk.
    static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The chunk's product before col2im, or its packed `A`.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's buffer `key`, at least `len` long. `f` must not call into rayon
/// (a stolen job could then want the same buffer).
fn with_buf<R>(
    key: &'static LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < len {
            c.resize(len, 0.0);
        }
        f(&mut c[..len])
    })
}

/// The most samples per chunk such that a chunk's `per_sample`-sized share fits the budget and
/// the batch still gives at least [`MIN_CHUNKS`] chunks.
fn max_samples(g: &Geom, per_sample: usize) -> usize {
    (CHUNK_FLOATS / per_sample.max(1))
        .min(g.n.div_ceil(MIN_CHUNKS))
        .max(1)
}

/// Sample ranges of at most `nb` samples covering the batch.
fn sample_chunks(n: usize, nb: usize) -> Vec<(usize, usize)> {
    (0..n)
        .step_by(nb)
        .map(|n0| (n0, (n0 + nb).min(n)))
        .collect()
}

/// Among `1..=most` samples per chunk, the count whose columns waste the least of the GEMM's
/// last `NR`-wide panel (the larger on ties).
fn least_waste(most: usize, ohw: usize) -> usize {
    let waste = |nb: usize| {
        let nc = nb * ohw;
        (nc.div_ceil(NR) * NR - nc) as f64 / nc as f64
    };
    (1..=most)
        .rev()
        .min_by(|&a, &b| waste(a).total_cmp(&waste(b)))
        .unwrap_or(1)
}

/// The chunk table of a geometry, built once and kept: the same few geometries come back every
/// training step.
fn table(g: &Geom, nb: usize) -> Arc<ChunkTable> {
    static TABLES: Mutex<Vec<(Geom, usize, Arc<ChunkTable>)>> = Mutex::new(Vec::new());
    let mut tables = TABLES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, t)) = tables.iter().find(|(tg, tn, _)| tg == g && *tn == nb) {
        return t.clone();
    }
    let t = Arc::new(ChunkTable::new(g, nb));
    if tables.len() >= 64 {
        tables.remove(0);
    }
    tables.push((*g, nb, t.clone()));
    t
}

/// A pointer shared by chunks that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: used only to write disjoint elements from different threads (see each use).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}
impl Shared {
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `out[m, n*oh*ow] = W[m, rows] · im2col(img)`, where `W`'s rows are `ldw` apart.
///
/// Chunks are ranges of columns a whole number of GEMM panels wide, free to start and end
/// inside samples, so no panel is left part empty (the 7x7 layers' 49 columns per sample would
/// otherwise waste up to a quarter of the last panel).
pub fn gather_gemm(out: &mut [f32], w: &[f32], m: usize, ldw: usize, img: &[f32], g: &Geom) {
    let (r, ncol, ohw) = (g.rows(), g.cols(), g.oh * g.ow);
    assert!(out.len() >= m * ncol && img.len() >= g.c * g.n * g.h * g.w);
    assert!(m == 0 || (ldw >= r && w.len() >= (m - 1) * ldw + r));
    let width = (CHUNK_FLOATS / r.max(1))
        .min(ncol.div_ceil(MIN_CHUNKS))
        .next_multiple_of(NR)
        .max(NR);
    // The most samples a range of `width` columns can touch.
    let tb = table(g, (width + ohw - 2) / ohw + 1);
    let mut a = vec![0f32; packed_a_len(m, r)];
    pack_a(&mut a, w, m, r, ldw, 1);
    let dst = Shared(out.as_mut_ptr());
    (0..ncol.div_ceil(width)).into_par_iter().for_each(|ci| {
        let cols = ci * width..((ci + 1) * width).min(ncol);
        let nc = cols.len();
        with_buf(&PACKED, packed_b_len(r, nc), |b| {
            pack_cols(b, img, g, &tb, cols.clone(), 0..r);
            // SAFETY: the output block is columns `cols` of the m rows of `out`, which no
            // other chunk writes.
            unsafe { gemm_packed(m, nc, r, &a, b, dst.at(cols.start), ncol, false) }
        })
    });
}

/// `img = col2im(Wᵀ · src)` (overwritten), where `W` is `[kdim, rows]` with rows `ldw` apart
/// and `src` is `[kdim, n*oh*ow]`.
///
/// Chunks are whole samples (col2im needs every tap of a pixel), as many as keep the packed
/// `src` within budget with the least waste in the last panel. The product is made a block of
/// rows at a time, whole channels and whole `MR`-row panels, and each block goes through
/// col2im while it is in cache.
pub fn gemm_scatter(img: &mut [f32], w: &[f32], kdim: usize, ldw: usize, src: &[f32], g: &Geom) {
    let (r, ncol, ohw, taps) = (g.rows(), g.cols(), g.oh * g.ow, g.k * g.k);
    assert!(img.len() >= g.c * g.n * g.h * g.w && src.len() >= kdim * ncol);
    assert!(kdim == 0 || (ldw >= r && w.len() >= (kdim - 1) * ldw + r));
    let nb = least_waste(max_samples(g, kdim * ohw), ohw);
    let tb = table(g, nb);
    // Rows per block: whole channels and whole panels, about a quarter of the budget.
    let unit = lcm(taps, MR);
    let block = unit * (CHUNK_FLOATS / 4 / (unit * nb * ohw).max(1)).max(1);
    let mut a = vec![0f32; packed_a_len(r, kdim)];
    pack_a(&mut a, w, r, kdim, 1, ldw);
    let dst = Shared(img.as_mut_ptr());
    sample_chunks(g.n, nb).into_par_iter().for_each(|(n0, n1)| {
        let nc = (n1 - n0) * ohw;
        with_buf(&PACKED, packed_b_len(kdim, nc), |b| {
            pack_b(b, &src[n0 * ohw..], kdim, nc, ncol);
            with_buf(&SCRATCH, block * nc, |cols| {
                for r0 in (0..r).step_by(block) {
                    let rows = block.min(r - r0);
                    // SAFETY: `cols` is a rows x nc matrix of this thread's own; the block's A
                    // panels start at row r0, a multiple of MR.
                    unsafe {
                        gemm_packed(
                            rows,
                            nc,
                            kdim,
                            &a[r0 * kdim..],
                            b,
                            cols.as_mut_ptr(),
                            nc,
                            false,
                        )
                    };
                    let channels = r0 / taps..(r0 + rows) / taps;
                    // SAFETY: `img` is the whole tensor; this chunk writes only its own samples.
                    unsafe { col2im_range(dst.at(0), cols, g, &tb, (n0, n1), channels) };
                }
            })
        })
    });
}

/// Least common multiple.
fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// `dw[kdim, rows] += src · im2col(img)ᵀ`, where `dw`'s rows are `ldw` apart and `src` is
/// `[kdim, n*oh*ow]`.
///
/// Parallel over bands of the column matrix's rows (= columns of `dw`): each band goes through
/// the chunks in order, packing only its own rows, and adds each chunk's product to its own
/// columns of `dw`. Every element is summed in the same order whatever the bands, so no
/// partial sums need combining and the result does not depend on the thread count.
pub fn grad_weights(dw: &mut [f32], ldw: usize, src: &[f32], kdim: usize, img: &[f32], g: &Geom) {
    let (r, ncol, ohw) = (g.rows(), g.cols(), g.oh * g.ow);
    assert!(src.len() >= kdim * ncol && img.len() >= g.c * g.n * g.h * g.w);
    assert!(kdim == 0 || (ldw >= r && dw.len() >= (kdim - 1) * ldw + r));
    // Each chunk is one GEMM with k = its columns: about KC of them, whatever the bands (so
    // the chunking, and with it the result, does not depend on the thread count).
    let nb = (KC / ohw.max(1)).clamp(1, g.n.div_ceil(MIN_CHUNKS));
    let (cs, tb) = (sample_chunks(g.n, nb), table(g, nb));
    let band = r
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(NR);
    let dst = Shared(dw.as_mut_ptr());
    (0..r.div_ceil(band)).into_par_iter().for_each(|bi| {
        let rows = bi * band..((bi + 1) * band).min(r);
        for &(n0, n1) in &cs {
            let nc = (n1 - n0) * ohw;
            with_buf(&SCRATCH, packed_a_len(kdim, nc), |a| {
                pack_a(a, &src[n0 * ohw..], kdim, nc, ncol, 1);
                with_buf(&PACKED, packed_b_len(nc, rows.len()), |b| {
                    pack_cols_t(b, img, g, &tb, (n0, n1), rows.clone());
                    // SAFETY: columns `rows` of `dw`'s kdim rows belong to this band alone.
                    unsafe {
                        gemm_packed(kdim, rows.len(), nc, a, b, dst.at(rows.start), ldw, true)
                    }
                })
            })
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::im2col::naive::{naive_im2col, random_geom};
    use crate::engine::Rng;

    fn randn(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.normal()).collect()
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what} [{i}]: {g} vs {w}"
            );
        }
    }

    /// A geometry with a batch big enough for several chunks now and then.
    fn geom(rng: &mut Rng) -> Geom {
        let mut g = random_geom(rng);
        if rng.below(3) == 0 {
            g.n = 9 + rng.below(40);
        }
        g
    }

    #[test]
    fn chunked_products_match_the_whole_column_matrix() {
        let mut rng = Rng::new(11);
        for _ in 0..120 {
            let g = geom(&mut rng);
            let (r, ncol) = (g.rows(), g.cols());
            let m = 1 + rng.below(9);
            let ldw = r + rng.below(3);
            let w = randn(&mut rng, m * ldw);
            let img = randn(&mut rng, g.c * g.n * g.h * g.w);
            let cols = naive_im2col(&img, &g, 0, g.n);

            // out = W · cols
            let mut out = vec![f32::NAN; m * ncol];
            gather_gemm(&mut out, &w, m, ldw, &img, &g);
            let want: Vec<f64> = (0..m * ncol)
                .map(|e| {
                    let (i, j) = (e / ncol, e % ncol);
                    (0..r)
                        .map(|p| w[i * ldw + p] as f64 * cols[p * ncol + j] as f64)
                        .sum()
                })
                .collect();
            close(&out, &want, "gather_gemm");

            // dW += src · colsᵀ
            let src = randn(&mut rng, m * ncol);
            let mut dw = randn(&mut rng, m * ldw);
            let before = dw.clone();
            grad_weights(&mut dw, ldw, &src, m, &img, &g);
            let want: Vec<f64> = (0..m * ldw)
                .map(|e| {
                    let (i, p) = (e / ldw, e % ldw);
                    before[e] as f64
                        + if p < r {
                            (0..ncol)
                                .map(|j| src[i * ncol + j] as f64 * cols[p * ncol + j] as f64)
                                .sum::<f64>()
                        } else {
                            0.0
                        }
                })
                .collect();
            close(&dw, &want, "grad_weights");

            // img = col2im(Wᵀ · src), checked through its adjoint: <img', x> = <Wᵀ src, cols(x)>.
            let mut back = vec![f32::NAN; img.len()];
            gemm_scatter(&mut back, &w, m, ldw, &src, &g);
            let lhs: f64 = back
                .iter()
                .zip(&img)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let rhs: f64 = (0..r * ncol)
                .map(|e| {
                    let (p, j) = (e / ncol, e % ncol);
                    let wts: f64 = (0..m)
                        .map(|i| w[i * ldw + p] as f64 * src[i * ncol + j] as f64)
                        .sum();
                    wts * cols[e] as f64
                })
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-3 * (1.0 + rhs.abs()),
                "gemm_scatter {g:?}: {lhs} vs {rhs}"
            );
            assert!(back.iter().all(|v| v.is_finite()), "every pixel written");
        }
    }

    #[test]
    fn weight_gradients_do_not_depend_on_the_thread_count() {
        let g = Geom {
            c: 3,
            n: 37,
            h: 9,
            w: 9,
            k: 4,
            s: 2,
            p: 1,
            oh: 4,
            ow: 4,
        };
        let mut rng = Rng::new(5);
        let (m, r) = (6, g.rows());
        let img = randn(&mut rng, g.c * g.n * g.h * g.w);
        let src = randn(&mut rng, m * g.cols());
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut dw = vec![0.25f32; m * r];
            pool.install(|| grad_weights(&mut dw, r, &src, m, &img, &g));
            dw
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }
}
