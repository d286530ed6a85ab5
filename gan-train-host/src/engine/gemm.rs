//! `C = A · B + beta · C` on f32 with matrixmultiply's kernels, rows of `C` split across the
//! rayon pool. Each element of `C` is computed whole by one thread in a fixed order, so results
//! do not depend on the thread count.

use rayon::prelude::*;

/// Below this many multiply-adds a GEMM runs on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 18;

/// `c[m, n] (row-major, contiguous) = a[m, k] · b[k, n] + beta * c`, where `a` and `b` are
/// given by row and column strides (so transposes cost nothing).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    beta: f32,
    c: &mut [f32],
) {
    // Rows of C are contiguous (the blocking below is written for any row stride).
    let ldc = n;
    assert!(c.len() >= m * n, "gemm: C too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.chunks_mut(ldc)
            .take(m)
            .for_each(|row| row[..n].iter_mut().for_each(|v| *v *= beta));
        return;
    }
    // Bounds: the last element each operand's strides reach must be inside its slice.
    assert!(
        (m - 1) * rsa + (k - 1) * csa < a.len(),
        "gemm: A out of bounds"
    );
    assert!(
        (k - 1) * rsb + (n - 1) * csb < b.len(),
        "gemm: B out of bounds"
    );
    let threads = rayon::current_num_threads();
    let rows_per = if m * k * n >= PARALLEL_MIN_MACS && threads > 1 {
        m.div_ceil(threads).max(1)
    } else {
        m
    };
    let run = |row0: usize, c_rows: &mut [f32]| {
        let rows = (c_rows.len() + ldc - n) / ldc;
        // SAFETY: the asserts above keep every A and B element that matrixmultiply reads
        // (rows row0..row0+rows of A, all of B) inside `a` and `b`; `c_rows` is an exclusive
        // block holding `rows` rows of n elements `ldc` apart.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                k,
                n,
                1.0,
                a.as_ptr().add(row0 * rsa),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                beta,
                c_rows.as_mut_ptr(),
                ldc as isize,
                1,
            )
        }
    };
    let used = (m - 1) * ldc + n;
    if rows_per >= m {
        run(0, &mut c[..used]);
    } else {
        // Blocks of `rows_per` whole rows; the last block ends at its last row's n-th element.
        let mut blocks: Vec<(usize, &mut [f32])> = Vec::new();
        let mut rest = &mut c[..used];
        let mut row0 = 0;
        while row0 < m {
            let rows = rows_per.min(m - row0);
            let len = if row0 + rows == m {
                rest.len()
            } else {
                rows * ldc
            };
            let (head, tail) = rest.split_at_mut(len);
            blocks.push((row0, head));
            rest = tail;
            row0 += rows;
        }
        blocks
            .into_par_iter()
            .for_each(|(r0, block)| run(r0, block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Rng;

    /// Plain triple loop in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        rsa: usize,
        csa: usize,
        b: &[f32],
        rsb: usize,
        csb: usize,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64;
                }
            }
        }
        c
    }

    #[test]
    fn matches_reference_on_random_shapes_and_transposes() {
        let mut rng = Rng::new(1);
        for trial in 0..60 {
            let (m, k, n) = (1 + rng.below(150), 1 + rng.below(90), 1 + rng.below(200));
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
            let (rsa, csa) = if trial % 2 == 0 { (k, 1) } else { (1, m) };
            let (rsb, csb) = if trial % 3 == 0 { (n, 1) } else { (1, k) };
            let mut c = vec![0.5f32; m * n];
            gemm(m, k, n, &a, rsa, csa, &b, rsb, csb, 1.0, &mut c);
            let want = reference(m, k, n, &a, rsa, csa, &b, rsb, csb);
            for (i, (&g, &w)) in c.iter().zip(&want).enumerate() {
                assert!(
                    (g as f64 - (w + 0.5)).abs() <= 1e-4 + 1e-4 * w.abs(),
                    "trial {trial} elem {i}: {g} vs {}",
                    w + 0.5
                );
            }
        }
    }
}
