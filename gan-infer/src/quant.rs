//! The int8 output stage, specified exactly (integer-only, identical on every target).
//!
//! For output channel `c` a layer holds a multiplier `M[c]` (`0 <= M < 2^31`) and a right
//! shift `n[c]` (`1 <= n <= 62`) chosen by the exporter so that
//! `M[c] * 2^-n[c] ≈ s_in * s_w[c] / s_out`. The accumulator
//! `acc = bias_q[c] + Σ (x_q - z_in) * w_q` (i32) becomes
//!
//! ```text
//! r   = (acc * M + 2^(n-1)) >> n          // i64 product, arithmetic shift: round half up
//! q   = clamp(r + z, lo, 127)             // z = requant_zero_point
//! lo  = max(-128, z) for ReLU, else -128
//! out = q                                 // Identity / ReLU / LeakyReLU
//! out = lut[q + 128]                      // Tanh / Sigmoid (table made by the exporter)
//! ```
//!
//! LeakyReLU uses a second pair `(M_neg[c], n_neg[c]) ≈ slope * s_in * s_w[c] / s_out` when
//! `acc < 0` (the sign of `acc` is the sign of the real pre-activation), so it stays one exact
//! rounding. `|acc * M| < 2^62`, so the i64 sum never overflows.

/// `round_half_up(acc * m / 2^n)` in i64, before the zero point is added.
#[inline(always)]
pub fn rescale(acc: i32, m: i32, n: u8) -> i64 {
    let p = acc as i64 * m as i64;
    (p + (1i64 << (n - 1))) >> n
}

/// The output stage of one channel, with its constants read once.
#[derive(Clone, Copy, Debug)]
pub struct ChannelStage<'a> {
    /// Multiplier for `acc >= 0` (and for all `acc` without LeakyReLU).
    pub m: i32,
    /// Shift for `acc >= 0`.
    pub n: u8,
    /// Multiplier and shift for `acc < 0` (LeakyReLU), else equal to `(m, n)`.
    pub m_neg: i32,
    /// Shift for `acc < 0`.
    pub n_neg: u8,
    /// Zero point added after rescaling.
    pub zero_point: i32,
    /// Lower clamp (ReLU: the zero point).
    pub lo: i32,
    /// Tanh/Sigmoid table, if any.
    pub lut: Option<&'a [u8]>,
}

impl ChannelStage<'_> {
    /// The int8 output for accumulator `acc`.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        let (m, n) = if acc < 0 {
            (self.m_neg, self.n_neg)
        } else {
            (self.m, self.n)
        };
        let q = (rescale(acc, m, n) + self.zero_point as i64).clamp(self.lo as i64, 127) as i32;
        match self.lut {
            Some(t) => t[(q + 128) as usize] as i8,
            None => q as i8,
        }
    }
}

/// Reads little-endian i32 number `i` of `bytes`.
#[inline(always)]
pub(crate) fn le_i32(bytes: &[u8], i: usize) -> i32 {
    let b = &bytes[4 * i..4 * i + 4];
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads little-endian f32 number `i` of `bytes`.
#[inline(always)]
pub(crate) fn le_f32(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(le_i32(bytes, i) as u32)
}

/// Splits a positive real multiplier into `(M, n)` with `M * 2^-n ≈ real`, `2^30 <= M < 2^31`
/// (host side: the exporter). Multipliers too small for `n <= 62` become `(0, 62)`; too
/// large ones (`>= 2^30`) saturate.
pub fn quantize_multiplier(real: f64) -> (i32, u8) {
    if real.is_nan() || real <= 0.0 || !real.is_finite() {
        return (0, 62);
    }
    // real = f * 2^e with f in [0.5, 1): M = round(f * 2^31), n = 31 - e.
    let mut e = 0i32;
    let mut f = real;
    while f >= 1.0 {
        f /= 2.0;
        e += 1;
    }
    while f < 0.5 {
        f *= 2.0;
        e -= 1;
    }
    let mut m = libm::round(f * 2147483648.0) as i64;
    if m == 1i64 << 31 {
        m /= 2;
        e += 1;
    }
    let n = 31 - e;
    if n > 62 {
        return (0, 62);
    }
    if n < 1 {
        return (i32::MAX, 1);
    }
    (m as i32, n as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_half_up() {
        // m / 2^n = 0.5 exactly: 2^30 / 2^31.
        let m = 1 << 30;
        assert_eq!(rescale(3, m, 31), 2); // 1.5 -> 2
        assert_eq!(rescale(-3, m, 31), -1); // -1.5 -> -1 (half up)
        assert_eq!(rescale(5, m, 31), 3); // 2.5 -> 3
        assert_eq!(rescale(-5, m, 31), -2);
        assert_eq!(rescale(4, m, 31), 2);
        assert_eq!(
            rescale(i32::MAX, i32::MAX, 1),
            (i32::MAX as i64 * i32::MAX as i64 + 1) >> 1
        );
        assert_eq!(rescale(i32::MIN, i32::MAX, 62), -1);
    }

    #[test]
    fn multipliers_are_accurate() {
        for &real in &[1e-6, 0.0123, 0.25, 0.5, 0.999_999_9, 1.0, 3.7, 1e-12] {
            let (m, n) = quantize_multiplier(real);
            let back = m as f64 / (1u64 << n.min(63)) as f64 / if n > 63 { 2.0 } else { 1.0 };
            if real > 1e-10 {
                assert!(
                    (back - real).abs() <= real * 1e-9,
                    "{real} -> {m} >> {n} = {back}"
                );
                assert!((1 << 30..=i32::MAX).contains(&m));
            } else {
                assert_eq!((m, n), (0, 62));
            }
        }
    }

    #[test]
    fn stage_clamps_and_applies_relu_and_tables() {
        let mut lut = [0u8; 256];
        for (i, v) in lut.iter_mut().enumerate() {
            *v = (255 - i) as u8; // out = -(q) - 1 as i8
        }
        let plain = ChannelStage {
            m: 1 << 30,
            n: 30,
            m_neg: 1 << 30,
            n_neg: 30,
            zero_point: -10,
            lo: -128,
            lut: None,
        };
        assert_eq!(plain.apply(5), -5);
        assert_eq!(plain.apply(1000), 127);
        assert_eq!(plain.apply(-1000), -128);
        let relu = ChannelStage { lo: -10, ..plain };
        assert_eq!(relu.apply(-7), -10);
        let leaky = ChannelStage {
            m_neg: 1 << 30,
            n_neg: 32, // a quarter of the positive side
            ..plain
        };
        assert_eq!(leaky.apply(-8), -12);
        assert_eq!(leaky.apply(8), -2);
        let table = ChannelStage {
            lut: Some(&lut),
            ..plain
        };
        assert_eq!(table.apply(5), (255 - (-5 + 128)) as u8 as i8);
    }
}
