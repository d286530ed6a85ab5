//! Quality metrics: classifier-FID and conditional accuracy.
//!
//! FID (Heusel et al. 2017) on the classifier's 128 penultimate features:
//! `||mu_a - mu_b||² + Tr(S_a + S_b - 2 (S_a S_b)^½)`, with `Tr((S_a S_b)^½)` computed as
//! `Σ sqrt(eig(S_a^½ S_b S_a^½))` (symmetric, so Jacobi eigen-decompositions in f64 suffice).
//! Generated digits: `n` of them, labels cycling 0..9, latents from `LatentSampler` seeds
//! `seed*1_000_000 + i` (the same latents on the host and the device). The real-vs-real floor
//! compares `n` training digits with the held-out ones.

use gan_infer::{LatentSampler, Model};

use crate::classifier::{features_and_predictions, FEATURES};
use crate::data::{Dataset, NUM_CLASSES};
use crate::engine::Sequential;
use crate::model::{fill_g_input, to_pixel, Arch};

/// Mean and covariance of feature vectors.
#[derive(Clone, Debug)]
pub struct Stats {
    mu: Vec<f64>,
    cov: Vec<f64>,
}

/// Feature statistics of `n x FEATURES` row vectors.
pub fn stats(feats: &[f64]) -> Stats {
    let d = FEATURES;
    let n = feats.len() / d;
    let mut mu = vec![0.0; d];
    for row in feats.chunks_exact(d) {
        mu.iter_mut()
            .zip(row)
            .for_each(|(m, &v)| *m += v / n as f64);
    }
    let mut cov = vec![0.0; d * d];
    for row in feats.chunks_exact(d) {
        for i in 0..d {
            let a = row[i] - mu[i];
            for j in i..d {
                cov[i * d + j] += a * (row[j] - mu[j]);
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / (n as f64 - 1.0).max(1.0);
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    Stats { mu, cov }
}

/// Eigenvalues and eigenvectors (columns of `v`) of a symmetric `d x d` matrix (cyclic Jacobi).
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    (0..d).for_each(|i| v[i * d + i] = 1.0);
    for _sweep in 0..60 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// The Fréchet distance between two Gaussians.
pub fn frechet(a: &Stats, b: &Stats) -> f64 {
    let d = a.mu.len();
    let mean_term: f64 = a.mu.iter().zip(&b.mu).map(|(x, y)| (x - y).powi(2)).sum();
    // sqrt(S_a) = V diag(sqrt(max(l, 0))) Vᵀ.
    let (l, v) = symmetric_eigen(&a.cov, d);
    let mut sa = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            sa[i * d + j] = (0..d)
                .map(|k| v[i * d + k] * l[k].max(0.0).sqrt() * v[j * d + k])
                .sum();
        }
    }
    let mul = |x: &[f64], y: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; d * d];
        for i in 0..d {
            for k in 0..d {
                let xik = x[i * d + k];
                for j in 0..d {
                    out[i * d + j] += xik * y[k * d + j];
                }
            }
        }
        out
    };
    let m = mul(&mul(&sa, &b.cov), &sa);
    let (lm, _) = symmetric_eigen(&m, d);
    let tr_sqrt: f64 = lm.iter().map(|&x| x.max(0.0).sqrt()).sum();
    let tr_a: f64 = (0..d).map(|i| a.cov[i * d + i]).sum();
    let tr_b: f64 = (0..d).map(|i| b.cov[i * d + i]).sum();
    (mean_term + tr_a + tr_b - 2.0 * tr_sqrt).max(0.0)
}

/// The results of one evaluation.
#[derive(Clone, Debug)]
pub struct Report {
    /// Classifier-FID against the held-out digits.
    pub fid: f64,
    /// Share of generated digits classified as the requested class.
    pub accuracy: f64,
    /// Accuracy per requested class.
    pub per_class: Vec<f64>,
}

/// A classifier with the held-out statistics, ready to judge generators.
pub struct Evaluator {
    classifier: std::sync::Mutex<Sequential>,
    real: Stats,
    train: Dataset,
}

impl Evaluator {
    /// An evaluator from a trained classifier and the data splits.
    pub fn new(mut classifier: Sequential, train: &Dataset, test: &Dataset) -> Self {
        let imgs: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
        let (f, _) = features_and_predictions(&mut classifier, &imgs);
        Evaluator {
            real: stats(&f),
            classifier: std::sync::Mutex::new(classifier),
            train: train.clone(),
        }
    }

    fn judge(&self, images: &[Vec<u8>], labels: &[u8]) -> Report {
        let refs: Vec<&[u8]> = images.iter().map(|v| v.as_slice()).collect();
        let mut c = self.classifier.lock().unwrap_or_else(|e| e.into_inner());
        let (f, preds) = features_and_predictions(&mut c, &refs);
        let fid = frechet(&stats(&f), &self.real);
        let mut hit = [0usize; NUM_CLASSES];
        let mut tot = [0usize; NUM_CLASSES];
        for (&p, &l) in preds.iter().zip(labels) {
            tot[l as usize] += 1;
            hit[l as usize] += usize::from(p == l);
        }
        let accuracy = hit.iter().sum::<usize>() as f64 / labels.len().max(1) as f64;
        let per_class = (0..NUM_CLASSES)
            .map(|c| hit[c] as f64 / tot[c].max(1) as f64)
            .collect();
        Report {
            fid,
            accuracy,
            per_class,
        }
    }

    /// The real-vs-real floor: `n` training digits against the held-out digits.
    pub fn floor(&self, n: usize) -> f64 {
        let n = n.min(self.train.len());
        let imgs: Vec<Vec<u8>> = (0..n)
            .map(|i| self.train.image(i * self.train.len() / n).to_vec())
            .collect();
        let labels: Vec<u8> = (0..n)
            .map(|i| self.train.labels[i * self.train.len() / n])
            .collect();
        self.judge(&imgs, &labels).fid
    }

    /// The requested labels and Q12 latents of evaluation sample `i`.
    pub fn sample_spec(i: usize, zdim: usize, seed: u64) -> (u8, Vec<i32>) {
        let mut s = LatentSampler::new(seed * 1_000_000 + i as u64);
        (
            (i % NUM_CLASSES) as u8,
            (0..zdim).map(|_| s.next_q12()).collect(),
        )
    }

    /// Evaluates an f32 generator of the engine (eval mode).
    pub fn evaluate_sequential(
        &self,
        g: &mut Sequential,
        arch: &Arch,
        n: usize,
        seed: u64,
    ) -> Report {
        let mut images = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for start in (0..n).step_by(250) {
            let m = 250.min(n - start);
            let mut z = Vec::with_capacity(m * arch.z);
            let mut ls = Vec::with_capacity(m);
            for i in start..start + m {
                let (l, q) = Self::sample_spec(i, arch.z, seed);
                z.extend(q.iter().map(|&v| v as f32 / 4096.0));
                ls.push(if arch.classes > 0 { l } else { 0 });
            }
            fill_g_input(g.input_mut(), &z, &ls, arch.z, arch.classes);
            let out = g.forward(false);
            for j in 0..m {
                images.push(
                    out.sample_chw(j)
                        .iter()
                        .map(|&v| to_pixel(v))
                        .collect::<Vec<u8>>(),
                );
            }
            labels.extend(ls);
        }
        self.judge(&images, &labels)
    }

    /// Evaluates a `.gan` model through gan-infer (the code the MCU runs). With `best_of > 1`,
    /// each digit is the most "real" of `best_of` candidates by the model's discriminator.
    pub fn evaluate_model(
        &self,
        model: &Model<'_>,
        n: usize,
        seed: u64,
        best_of: usize,
    ) -> Result<Report, String> {
        let g = model.generator().ok_or("the model has no generator")?;
        let d = model.discriminator();
        if best_of > 1 && d.is_none() {
            return Err("--best-of needs a discriminator in the model".into());
        }
        let conditional = g.num_classes() > 0;
        let arena_len = g.arena_bytes().max(d.map_or(0, |d| d.arena_bytes()));
        let npx = g.image_shape().len();
        let results: Vec<Result<(Vec<u8>, u8), String>> = {
            use rayon::prelude::*;
            (0..n)
                .into_par_iter()
                .map(|i| {
                    let mut arena = vec![0u8; arena_len];
                    let (l, mut z) = Self::sample_spec(i, g.latent_dim(), seed);
                    let label = conditional.then_some(l);
                    let mut best = (None, vec![0u8; npx]);
                    for k in 0..best_of.max(1) {
                        if k > 0 {
                            let (_, zk) =
                                Self::sample_spec(i + k * 7_919_993, g.latent_dim(), seed);
                            z = zk;
                        }
                        let mut img = vec![0u8; npx];
                        g.generate_from_latent(&z, label, &mut arena, &mut img)
                            .map_err(|e| e.to_string())?;
                        let score = match (best_of > 1, d) {
                            (true, Some(d)) => Some(
                                d.score(&img, label, &mut arena)
                                    .map_err(|e| e.to_string())?,
                            ),
                            _ => None,
                        };
                        if k == 0 || score > best.0 {
                            best = (score, img);
                        }
                    }
                    Ok((best.1, l))
                })
                .collect()
        };
        let mut images = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for r in results {
            let (img, l) = r?;
            images.push(img);
            labels.push(l);
        }
        Ok(self.judge(&images, &labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frechet_of_known_gaussians() {
        // Identical statistics: 0. Shifted means: |dmu|². Scaled covariances s² I vs I:
        // d * (s - 1)².
        let d = FEATURES;
        let eye: Vec<f64> = (0..d * d)
            .map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect();
        let a = Stats {
            mu: vec![0.0; d],
            cov: eye.clone(),
        };
        assert!(frechet(&a, &a).abs() < 1e-9);
        let mut mu = vec![0.0; d];
        mu[3] = 2.0;
        let b = Stats {
            mu,
            cov: eye.clone(),
        };
        assert!((frechet(&a, &b) - 4.0).abs() < 1e-9);
        let c = Stats {
            mu: vec![0.0; d],
            cov: eye.iter().map(|v| v * 9.0).collect(),
        };
        assert!((frechet(&a, &c) - d as f64 * 4.0).abs() < 1e-6);
    }
}
