//! The training engine: f32 tensors, layers with hand-written forward and backward passes,
//! BCE-with-logits, Adam and per-layer-type initialisation.
//!
//! **Layout.** Inside the engine activations are `[C, N, H, W]` (channel-major): each
//! convolution is then a GEMM over the whole batch (`[out, in*k*k] x [in*k*k, N*H*W]`), run
//! in cache-sized chunks whose column matrix is packed straight from the image (`conv_core`,
//! on the kernel of `packed_gemm`), and BatchNorm reads each channel as one contiguous run.
//! Linear layers use `gemm` (matrixmultiply). Datasets and images at the engine's
//! boundary are NCHW; for a batch of one the two layouts coincide. Weights use PyTorch's
//! layouts, so checkpoints carry PyTorch names and shapes.
//!
//! Every layer is a `forward` / `backward` pair with outputs first, then inputs; backward
//! **accumulates** weight gradients (`+=`), and gradients are zeroed explicitly
//! (`Sequential::zero_grad`).

pub mod activation;
pub mod adam;
pub mod batchnorm;
pub mod conv2d;
pub mod conv_core;
pub mod conv_transpose2d;
pub mod gemm;
pub mod im2col;
pub mod init;
pub mod linear;
pub mod loss;
pub mod packed_gemm;
pub mod sequential;

pub use sequential::{Layer, Sequential};

/// A 4-D f32 tensor in `[C, N, H, W]` order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensor {
    /// Channels.
    pub c: usize,
    /// Batch.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// `c * n * h * w` values.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A zero tensor.
    pub fn zeros(c: usize, n: usize, h: usize, w: usize) -> Self {
        Tensor {
            c,
            n,
            h,
            w,
            data: vec![0.0; c * n * h * w],
        }
    }
    /// Reshapes in place to `(c, n, h, w)`, reusing the allocation; contents are unspecified
    /// when the size changes (callers overwrite them).
    pub fn reset(&mut self, c: usize, n: usize, h: usize, w: usize) {
        self.c = c;
        self.n = n;
        self.h = h;
        self.w = w;
        self.data.resize(c * n * h * w, 0.0);
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Elements of one sample (`c * h * w`).
    pub fn sample_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Copies sample `i` out in CHW order.
    pub fn sample_chw(&self, i: usize) -> Vec<f32> {
        let hw = self.h * self.w;
        let mut out = Vec::with_capacity(self.c * hw);
        for c in 0..self.c {
            let at = (c * self.n + i) * hw;
            out.extend_from_slice(&self.data[at..at + hw]);
        }
        out
    }
}

/// `Σ f(x_i)` in f64, over eight interleaved partial sums combined in a fixed order: the same
/// result every time, and the compiler can vectorise it (a single running sum cannot be
/// reordered, so it would run one element per add latency).
pub fn sum_f64(xs: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += f(v as f64);
        }
    }
    for (l, &v) in lanes.iter_mut().zip(tail) {
        *l += f(v as f64);
    }
    lanes.iter().sum()
}

/// `Σ a_i · b_i` in f64, as [`sum_f64`].
pub fn dot_f64(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "dot_f64: lengths");
    let mut lanes = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((l, &u), &v) in lanes.iter_mut().zip(x).zip(y) {
            *l += u as f64 * v as f64;
        }
    }
    for ((l, &u), &v) in lanes.iter_mut().zip(ta).zip(tb) {
        *l += u as f64 * v as f64;
    }
    lanes.iter().sum()
}

/// A trainable parameter: value, gradient and Adam's two moments, all of one shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Param {
    /// Values.
    pub w: Vec<f32>,
    /// Gradient (accumulated by backward passes, zeroed by `zero_grad`).
    pub g: Vec<f32>,
    /// Adam first moment.
    pub m: Vec<f32>,
    /// Adam second moment.
    pub v: Vec<f32>,
    /// PyTorch shape (for checkpoints).
    pub shape: Vec<usize>,
}

impl Param {
    /// A zero parameter of `shape`.
    pub fn zeros(shape: &[usize]) -> Self {
        let n = shape.iter().product();
        Param {
            w: vec![0.0; n],
            g: vec![0.0; n],
            m: vec![0.0; n],
            v: vec![0.0; n],
            shape: shape.to_vec(),
        }
    }
}

/// Deterministic random numbers (xoshiro256**, seeded by SplitMix64), so a seed fixes a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator named by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = gan_infer::LatentSampler::new(seed);
        Rng {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }
    /// The state, for checkpoints.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }
    /// Restores a state.
    pub fn from_state(s: [u64; 4]) -> Self {
        Rng { s }
    }
    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }
    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
    /// A random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
}

#[cfg(test)]
pub(crate) mod gradcheck;
