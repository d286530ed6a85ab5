//! Deterministic latent sampling from a `u64` seed, integer-only, identical on every target.
//!
//! The generator is SplitMix64 (Steele, Lea, Flood 2014). A Gaussian is approximated by the
//! Irwin–Hall sum of twelve uniforms: twelve 12-bit uniforms `u_i ∈ [0, 4096)` give
//! `v = Σ u_i − 24570`, in units of 1/4096 (Q12): mean 0, standard deviation 1.0 (to within
//! 4e-4), range ±6. Three 64-bit draws per value, four 12-bit fields each.

/// Fixed-point fraction bits of the sampler's output (`real = v / 4096`).
pub const LATENT_FRAC_BITS: u32 = 12;

/// A stream of standard-normal-like latent values in Q12.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LatentSampler {
    state: u64,
}

impl LatentSampler {
    /// A sampler whose stream is named by `seed`.
    pub const fn new(seed: u64) -> Self {
        LatentSampler { state: seed }
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next latent value, Q12 (`real = v / 4096`), in `[-24570, 24570]`.
    pub fn next_q12(&mut self) -> i32 {
        let mut sum = 0i32;
        for _ in 0..3 {
            let r = self.next_u64();
            for f in 0..4 {
                sum += ((r >> (12 * f)) & 0xFFF) as i32;
            }
        }
        sum - 24570
    }

    /// Fills `out` with the next values (Q12).
    pub fn fill_q12(&mut self, out: &mut [i32]) {
        for v in out {
            *v = self.next_q12();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_standard_normal_like() {
        let mut s = LatentSampler::new(7);
        let n = 200_000;
        let (mut m1, mut m2) = (0f64, 0f64);
        for _ in 0..n {
            let v = s.next_q12() as f64 / 4096.0;
            m1 += v;
            m2 += v * v;
        }
        let mean = m1 / n as f64;
        let var = m2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }

    #[test]
    fn stream_is_fixed() {
        // Pinned values: a seed names the same latent on every platform and in every version.
        let mut s = LatentSampler::new(0);
        assert_eq!(s.next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut s = LatentSampler::new(1);
        let v: [i32; 4] = core::array::from_fn(|_| s.next_q12());
        let mut again = LatentSampler::new(1);
        let w: [i32; 4] = core::array::from_fn(|_| again.next_q12());
        assert_eq!(v, w);
    }
}
