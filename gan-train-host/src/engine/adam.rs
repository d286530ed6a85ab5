//! Adam (Kingma & Ba 2015) with bias correction, as `torch.optim.Adam` (no weight decay):
//! `m = b1 m + (1-b1) g`, `v = b2 v + (1-b2) g²`, `w -= lr * m̂ / (sqrt(v̂) + eps)`,
//! `m̂ = m / (1 - b1^t)`, `v̂ = v / (1 - b2^t)`.

use rayon::prelude::*;

use super::Param;

/// Adam's hyper-parameters and step counter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub b1: f32,
    /// Second-moment decay.
    pub b2: f32,
    /// Denominator guard.
    pub eps: f32,
    /// Steps taken.
    pub t: u64,
}

impl Adam {
    /// Adam with the DCGAN settings for `lr`, `(b1, b2)`.
    pub fn new(lr: f32, b1: f32, b2: f32) -> Self {
        Adam {
            lr,
            b1,
            b2,
            eps: 1e-8,
            t: 0,
        }
    }

    /// One update of every parameter from its gradient.
    pub fn step(&mut self, params: Vec<&mut Param>) {
        self.t += 1;
        let (b1, b2, eps) = (self.b1, self.b2, self.eps);
        let c1 = 1.0 - (b1 as f64).powi(self.t as i32);
        let c2 = 1.0 - (b2 as f64).powi(self.t as i32);
        let step = (self.lr as f64 / c1) as f32;
        let c2s = (1.0 / c2).sqrt() as f32;
        // Parameter by parameter, each in parallel chunks: one layer's weights dominate.
        const CHUNK: usize = 1 << 14;
        for p in params {
            let n = p.w.len();
            p.w.par_chunks_mut(CHUNK)
                .zip(p.m[..n].par_chunks_mut(CHUNK))
                .zip(p.v[..n].par_chunks_mut(CHUNK))
                .zip(p.g[..n].par_chunks(CHUNK))
                .for_each(|(((w, m), v), g)| {
                    for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g)
                    {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *w -= step * *m / (v.sqrt() * c2s + eps);
                    }
                });
        }
    }
}
