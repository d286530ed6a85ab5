//! The GEMM under the convolutions: `C (+)= A · B` on operands already packed into panels, so
//! the convolutions can pack their implicit operand (the im2col matrix) straight from the
//! image, with no column matrix and no second copy (see `conv_core`).
//!
//! **Packed layouts.** `A` (`m x k`) is cut into panels of [`MR`] rows, each stored k-major:
//! element `(i, p)` of panel `i / MR` sits at `p * MR + i % MR`. `B` (`k x n`) is cut into
//! panels of [`NR`] columns, each stored k-major: `(p, j)` sits at `p * NR + j % NR`. Rows or
//! columns past the matrix's edge hold anything; their results are never stored.
//!
//! **Kernel.** A 6 x 16 tile of `C` lives in twelve AVX2 registers while the kernel runs down
//! `k`: per step it loads 16 values of `B`, broadcasts 6 of `A` and issues 12 fused
//! multiply-adds (selected at run time; a portable kernel with the same summation order
//! serves other CPUs). Every element of `C` is the sum over `p` in blocks of `KC` steps, each
//! block summed in order and added to `C` in order, so results depend neither on the tiling
//! around an element nor on the thread count.

/// Rows of an `A` panel (and of a `C` tile).
pub const MR: usize = 6;
/// Columns of a `B` panel (and of a `C` tile).
pub const NR: usize = 16;
/// Steps of `k` per block: a `KC x NR` block of `B` is 16 KiB, half an L1 data cache.
pub const KC: usize = 256;

/// Length of `A` packed by [`pack_a`].
pub fn packed_a_len(m: usize, k: usize) -> usize {
    m.div_ceil(MR) * MR * k
}

/// Length of `B` packed by [`pack_b`] (and the convolutions' own packers).
pub fn packed_b_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * NR * k
}

/// Packs `a` (`m x k`, element `(i, p)` at `a[i * rsa + p * csa]`) into `MR`-row panels in
/// `out[..packed_a_len(m, k)]`.
pub fn pack_a(out: &mut [f32], a: &[f32], m: usize, k: usize, rsa: usize, csa: usize) {
    for (ip, panel) in out[..packed_a_len(m, k)]
        .chunks_exact_mut(MR * k)
        .enumerate()
    {
        let (i0, mr) = (ip * MR, MR.min(m - ip * MR));
        // Step by step of k, so the writes are contiguous.
        for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
            for (ii, d) in dst.iter_mut().enumerate().take(mr) {
                *d = a[(i0 + ii) * rsa + p * csa];
            }
        }
    }
}

/// Packs `b` (`k x n`, element `(p, j)` at `b[p * rsb + j]`) into `NR`-column panels in
/// `out[..packed_b_len(k, n)]`.
pub fn pack_b(out: &mut [f32], b: &[f32], k: usize, n: usize, rsb: usize) {
    for (jp, panel) in out[..packed_b_len(k, n)]
        .chunks_exact_mut(NR * k)
        .enumerate()
    {
        let (j0, w) = (jp * NR, NR.min(n - jp * NR));
        for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
            let src = &b[p * rsb + j0..];
            if w == NR {
                // A fixed length: a few vector moves, not a call to memcpy.
                let dst: &mut [f32; NR] = dst.try_into().expect("NR-long chunk");
                dst.copy_from_slice(&src[..NR]);
            } else {
                dst[..w].copy_from_slice(&src[..w]);
            }
        }
    }
}

/// `C[m, n] = A · B` (or `+=` when `accumulate`), with `A` packed by [`pack_a`] and `B`
/// packed in `NR`-column panels of depth `k`, `NR * k` apart. `C`'s element `(i, j)` is at
/// `c[i * rsc + j]`.
///
/// # Safety
/// `c` must be valid for every `(i, j)` with `i < m`, `j < n`, and no other thread may touch
/// those elements meanwhile.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_packed(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    assert!(a.len() >= m.div_ceil(MR) * MR * k);
    assert!(b.len() >= n.div_ceil(NR) * NR * k);
    let kernel = select_kernel();
    // Blocks of KC steps: one B panel block (KC x NR) stays in L1 while every A panel runs
    // past it.
    for k0 in (0..k).step_by(KC) {
        let kl = KC.min(k - k0);
        let add = accumulate || k0 > 0;
        for jp in 0..n.div_ceil(NR) {
            let bp = &b[jp * NR * k + k0 * NR..][..NR * kl];
            let nr = NR.min(n - jp * NR);
            for ip in 0..m.div_ceil(MR) {
                let ap = &a[ip * MR * k + k0 * MR..][..MR * kl];
                let mr = MR.min(m - ip * MR);
                // SAFETY: the tile's rows and columns are inside C (caller's contract).
                let ct = unsafe { c.add(ip * MR * rsc + jp * NR) };
                if mr == MR && nr == NR {
                    // SAFETY: a full tile inside C.
                    unsafe { kernel(kl, ap, bp, ct, rsc, add) };
                    continue;
                }
                let mut tile = [0f32; MR * NR];
                // SAFETY: `tile` is a full MR x NR tile with rows NR apart.
                unsafe { kernel(kl, ap, bp, tile.as_mut_ptr(), NR, false) };
                for (i, row) in tile.chunks_exact(NR).take(mr).enumerate() {
                    for (j, &v) in row.iter().take(nr).enumerate() {
                        // SAFETY: (i, j) is inside the tile's valid part, so inside C.
                        let e = unsafe { &mut *ct.add(i * rsc + j) };
                        *e = if add { *e + v } else { v };
                    }
                }
            }
        }
    }
}

/// A micro-kernel: the `MR x NR` tile at `c` (rows `rsc` apart) `= Σ_p a[p] ⊗ b[p]`, or `+=`.
type Kernel = unsafe fn(usize, &[f32], &[f32], *mut f32, usize, bool);

fn select_kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return kernel_avx2;
    }
    kernel_portable
}

/// The portable kernel: the same operations in the same order as the AVX2 one.
///
/// # Safety
/// `c` must be valid for an `MR x NR` tile with rows `rsc` apart.
pub unsafe fn kernel_portable(
    k: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    let mut acc = [[0f32; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(k) {
        for (row, &av) in acc.iter_mut().zip(ap) {
            for (x, &bv) in row.iter_mut().zip(bp) {
                *x = av.mul_add(bv, *x);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: inside the tile (caller's contract).
            let e = unsafe { &mut *c.add(i * rsc + j) };
            *e = if accumulate { *e + v } else { v };
        }
    }
}

/// The AVX2 + FMA kernel.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `c` must be valid for an `MR x NR` tile with rows `rsc`
/// apart; `a` and `b` must hold `MR * k` and `NR * k` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn kernel_avx2(
    k: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    assert!(a.len() >= MR * k && b.len() >= NR * k);
    let (mut ap, mut bp) = (a.as_ptr(), b.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for _ in 0..k {
        // SAFETY: p < k, so the MR values of A and NR values of B of this step are in bounds.
        unsafe {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add(i));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i of the tile, NR values at c + i*rsc (caller's contract).
        unsafe {
            let cp = c.add(i * rsc);
            if accumulate {
                _mm256_storeu_ps(cp, _mm256_add_ps(_mm256_loadu_ps(cp), row[0]));
                _mm256_storeu_ps(cp.add(8), _mm256_add_ps(_mm256_loadu_ps(cp.add(8)), row[1]));
            } else {
                _mm256_storeu_ps(cp, row[0]);
                _mm256_storeu_ps(cp.add(8), row[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Rng;

    #[test]
    fn packed_products_match_the_reference_on_random_shapes() {
        let mut rng = Rng::new(21);
        for trial in 0..150 {
            let (m, n, k) = (1 + rng.below(40), 1 + rng.below(70), 1 + rng.below(90));
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.normal()).collect();
            let (rsa, csa) = if trial % 2 == 0 { (k, 1) } else { (1, m) };
            let mut ap = vec![f32::NAN; packed_a_len(m, k)];
            pack_a(&mut ap, &a, m, k, rsa, csa);
            let mut bp = vec![f32::NAN; packed_b_len(k, n)];
            pack_b(&mut bp, &b, k, n, n);
            let rsc = n + rng.below(3);
            let accumulate = trial % 3 == 0;
            let c0: Vec<f32> = (0..m * rsc).map(|_| rng.normal()).collect();
            let mut c = c0.clone();
            // SAFETY: c is m x rsc.
            unsafe { gemm_packed(m, n, k, &ap, &bp, c.as_mut_ptr(), rsc, accumulate) };
            for i in 0..m {
                for j in 0..rsc {
                    let got = c[i * rsc + j] as f64;
                    let want = if j >= n {
                        c0[i * rsc + j] as f64
                    } else {
                        let dot: f64 = (0..k)
                            .map(|p| a[i * rsa + p * csa] as f64 * b[p * n + j] as f64)
                            .sum();
                        dot + if accumulate {
                            c0[i * rsc + j] as f64
                        } else {
                            0.0
                        }
                    };
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "trial {trial} ({i}, {j}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_kernels_agree_bit_for_bit() {
        let mut rng = Rng::new(22);
        let k = 77;
        let a: Vec<f32> = (0..MR * k).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..NR * k).map(|_| rng.normal()).collect();
        let c0: Vec<f32> = (0..MR * NR).map(|_| rng.normal()).collect();
        let mut portable = c0.clone();
        // SAFETY: a full tile.
        unsafe { kernel_portable(k, &a, &b, portable.as_mut_ptr(), NR, true) };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let mut simd = c0.clone();
            // SAFETY: the CPU has AVX2 and FMA; a full tile.
            unsafe { kernel_avx2(k, &a, &b, simd.as_mut_ptr(), NR, true) };
            assert_eq!(portable, simd);
        } else {
            eprintln!("no AVX2+FMA on this CPU: only the portable kernel runs here");
        }
    }
}
