//! The three products every convolution layer is made of, run over the batch in chunks of
//! samples.
//!
//! With the column matrix `cols = im2col(img)` of a [`Geom`] (`[rows, n*oh*ow]`):
//! - [`gather_gemm`]: `out = W · cols` (Conv2d forward, ConvTranspose2d input gradient);
//! - [`gemm_scatter`]: `img = col2im(Wᵀ · src)` (Conv2d input gradient, ConvTranspose2d
//!   forward);
//! - [`grad_weights`]: `dW += src · colsᵀ` (the weight gradient of both).
//!
//! The whole column matrix is never built: each chunk of samples gets its own, sized to stay in
//! a core's L2 cache (a thread-local buffer reused from call to call), and chunks run in
//! parallel (bands of rows for the weight gradient). That keeps the im2col/col2im traffic in
//! cache and the memory small, and it needs no synchronisation inside a product. Chunking
//! depends only on the geometry, so results do not depend on the thread count.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::thread::LocalKey;

use rayon::prelude::*;

use super::im2col::{col2im_range, pack_cols, pack_cols_t, ChunkTable, Geom};
use super::packed_gemm::{gemm_packed, pack_a, pack_b, packed_a_len, packed_b_len, NR};

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

/// The sample ranges of the chunks of a batch: as many samples as fit the budget (and leave
/// enough chunks for the cores), choosing among those counts the one whose columns waste the
/// least of the GEMM's last `NR`-wide panel.
fn chunks(g: &Geom) -> Vec<(usize, usize)> {
    let ohw = (g.oh * g.ow).max(1);
    let most = (CHUNK_FLOATS / (g.rows() * ohw).max(1))
        .min(g.n.div_ceil(MIN_CHUNKS))
        .max(1);
    let waste = |nb: usize| {
        let nc = nb * ohw;
        (nc.div_ceil(NR) * NR - nc) as f64 / nc as f64
    };
    let nb = (1..=most)
        .rev()
        .min_by(|&a, &b| waste(a).total_cmp(&waste(b)))
        .unwrap_or(1);
    (0..g.n)
        .step_by(nb)
        .map(|n0| (n0, (n0 + nb).min(g.n)))
        .collect()
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
pub fn gather_gemm(out: &mut [f32], w: &[f32], m: usize, ldw: usize, img: &[f32], g: &Geom) {
    let (r, ncol, ohw) = (g.rows(), g.cols(), g.oh * g.ow);
    assert!(out.len() >= m * ncol && img.len() >= g.c * g.n * g.h * g.w);
    assert!(m == 0 || (ldw >= r && w.len() >= (m - 1) * ldw + r));
    let cs = chunks(g);
    let tb = table(g, cs[0].1 - cs[0].0);
    let mut a = vec![0f32; packed_a_len(m, r)];
    pack_a(&mut a, w, m, r, ldw, 1);
    let dst = Shared(out.as_mut_ptr());
    cs.into_par_iter().for_each(|(n0, n1)| {
        let nc = (n1 - n0) * ohw;
        with_buf(&PACKED, packed_b_len(r, nc), |b| {
            pack_cols(b, img, g, &tb, (n0, n1), 0..r);
            // SAFETY: the output block is columns n0*ohw..n1*ohw of the m rows of `out`,
            // which no other chunk writes.
            unsafe { gemm_packed(m, nc, r, &a, b, dst.at(n0 * ohw), ncol, false) }
        })
    });
}

/// `img = col2im(Wᵀ · src)` (overwritten), where `W` is `[kdim, rows]` with rows `ldw` apart
/// and `src` is `[kdim, n*oh*ow]`.
pub fn gemm_scatter(img: &mut [f32], w: &[f32], kdim: usize, ldw: usize, src: &[f32], g: &Geom) {
    let (r, ncol, ohw) = (g.rows(), g.cols(), g.oh * g.ow);
    assert!(img.len() >= g.c * g.n * g.h * g.w && src.len() >= kdim * ncol);
    assert!(kdim == 0 || (ldw >= r && w.len() >= (kdim - 1) * ldw + r));
    let cs = chunks(g);
    let tb = table(g, cs[0].1 - cs[0].0);
    let mut a = vec![0f32; packed_a_len(r, kdim)];
    pack_a(&mut a, w, r, kdim, 1, ldw);
    let dst = Shared(img.as_mut_ptr());
    cs.into_par_iter().for_each(|(n0, n1)| {
        let nc = (n1 - n0) * ohw;
        with_buf(&PACKED, packed_b_len(kdim, nc), |b| {
            pack_b(b, &src[n0 * ohw..], kdim, nc, ncol);
            with_buf(&SCRATCH, r * nc, |cols| {
                // SAFETY: `cols` is an r x nc matrix of this thread's own.
                unsafe { gemm_packed(r, nc, kdim, &a, b, cols.as_mut_ptr(), nc, false) };
                // SAFETY: `img` is the whole tensor; this chunk writes only its own samples.
                unsafe { col2im_range(dst.at(0), cols, g, &tb, (n0, n1)) };
            })
        })
    });
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
    let cs = chunks(g);
    let tb = table(g, cs[0].1 - cs[0].0);
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
