//! `gan train`: the adversarial training loop.
//!
//! Per batch, as the PyTorch baseline: a D step (BCE on real with target `1 - smoothing`,
//! BCE on `G(z)` detached with target 0, Adam) then a G step (non-saturating loss: BCE of
//! `D(G(z))` against 1, gradients through D's input into G, Adam). D's weight gradients are not
//! computed in the G step (they would be discarded). After every epoch: a sample grid from fixed
//! seeds (one row per class), a `metrics.csv` row, a checkpoint, the loss plot, and the
//! validation score that drives early stopping. Every file is written atomically.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::checkpoint::{self, Named};
use crate::data::Splits;
use crate::engine::adam::Adam;
use crate::engine::init::{weights_init, InitRule};
use crate::engine::loss::bce_with_logits;
use crate::engine::{Rng, Sequential, Tensor};
use crate::eval::Evaluator;
use crate::io::{copy_atomic, gray_png, grid, write_atomic};
use crate::model::{feed_discriminator, fill_g_input, to_pixel, to_unit, Arch};

/// Options of a training run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// The architecture.
    pub arch: Arch,
    /// Epochs to reach (a resumed run continues up to this).
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam learning rate (both networks).
    pub lr: f32,
    /// Adam betas.
    pub betas: (f32, f32),
    /// Seed of every random choice.
    pub seed: u64,
    /// One-sided label smoothing: real target is `1 - smoothing`.
    pub label_smoothing: f32,
    /// Decay of the generator's exponential moving average (0 = off).
    pub ema: f32,
    /// Stop after this many epochs without a better validation score (0 = never).
    pub patience: usize,
    /// Generated digits for the per-epoch validation FID (0 = no validation).
    pub eval_samples: usize,
    /// Output directory (`runs/<name>`).
    pub out: PathBuf,
    /// Continue from `out/last.safetensors`.
    pub resume: bool,
    /// Draw a progress bar.
    pub progress: bool,
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Epochs completed.
    pub epochs: usize,
    /// Best validation score and its epoch, if validated.
    pub best: Option<(f64, usize)>,
    /// Median training throughput over the epochs of this process (img/s).
    pub median_img_per_s: f64,
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
}

/// The GAN being trained and everything needed to continue it exactly.
pub struct Trainer {
    /// Configuration.
    pub cfg: TrainConfig,
    /// Generator.
    pub g: Sequential,
    /// Discriminator.
    pub d: Sequential,
    /// EMA of the generator (when `cfg.ema > 0`).
    pub g_ema: Option<Sequential>,
    opt_g: Adam,
    opt_d: Adam,
    rng: Rng,
    /// Epochs done.
    pub epoch: usize,
    best: Option<(f64, usize)>,
    csv: String,
    loss_history: Vec<(f32, f32)>,
    // Per-step buffers, reused.
    z: Vec<f32>,
    real: Vec<f32>,
    labels: Vec<u8>,
    fake_labels: Vec<u8>,
    dlogits: Tensor,
}

const CSV_HEADER: &str = "epoch,steps,loss_d,loss_g,d_x,d_g_z,img_per_s,epoch_s,fid,class_acc\n";

fn meta_f(m: &mut HashMap<String, String>, k: &str, v: impl ToString) {
    m.insert(k.into(), v.to_string());
}

impl Trainer {
    /// A fresh run (DCGAN initialisation) or, with `cfg.resume`, the state of `out/last`.
    pub fn new(cfg: TrainConfig) -> Result<Trainer, String> {
        let mut rng = Rng::new(cfg.seed);
        let mut g = cfg.arch.generator();
        let mut d = cfg.arch.discriminator();
        weights_init(&mut g, InitRule::Dcgan, &mut rng);
        weights_init(&mut d, InitRule::Dcgan, &mut rng);
        let g_ema = (cfg.ema > 0.0).then(|| g.clone());
        let (b1, b2) = cfg.betas;
        let mut t = Trainer {
            opt_g: Adam::new(cfg.lr, b1, b2),
            opt_d: Adam::new(cfg.lr, b1, b2),
            cfg,
            g,
            d,
            g_ema,
            rng,
            epoch: 0,
            best: None,
            csv: CSV_HEADER.into(),
            loss_history: Vec::new(),
            z: Vec::new(),
            real: Vec::new(),
            labels: Vec::new(),
            fake_labels: Vec::new(),
            dlogits: Tensor::default(),
        };
        if t.cfg.resume {
            t.restore(&t.cfg.out.join("last.safetensors"))?;
        }
        Ok(t)
    }

    fn restore(&mut self, path: &Path) -> Result<(), String> {
        let ck = checkpoint::load(path).map_err(|e| format!("cannot resume: {e}"))?;
        let arch: String = ck.meta("arch")?;
        if arch != format!("{:?}", self.cfg.arch) {
            return Err(format!(
                "cannot resume: checkpoint is {arch}, this run is {:?}",
                self.cfg.arch
            ));
        }
        ck.restore(&mut self.g, "G", Some("optG"))?;
        ck.restore(&mut self.d, "D", Some("optD"))?;
        if let Some(e) = &mut self.g_ema {
            if !ck.has("G_ema") {
                return Err("cannot resume with --ema: the checkpoint has no EMA generator".into());
            }
            ck.restore(e, "G_ema", None)?;
        }
        self.opt_g.t = ck.meta("adam_t_g")?;
        self.opt_d.t = ck.meta("adam_t_d")?;
        let s: Vec<u64> = ck
            .meta::<String>("rng")?
            .split(',')
            .map(|v| v.parse().map_err(|_| "bad rng state".to_string()))
            .collect::<Result<_, _>>()?;
        self.rng = Rng::from_state(s.try_into().map_err(|_| "bad rng state".to_string())?);
        self.epoch = ck.meta("epoch")?;
        let best_score: f64 = ck.meta("best_score")?;
        let best_epoch: usize = ck.meta("best_epoch")?;
        self.best = (best_epoch > 0).then_some((best_score, best_epoch));
        self.csv = std::fs::read_to_string(self.cfg.out.join("metrics.csv"))
            .unwrap_or_else(|_| CSV_HEADER.into());
        self.loss_history = ck
            .meta::<String>("loss_history")?
            .split(';')
            .filter(|s| !s.is_empty())
            .filter_map(|p| {
                p.split_once(',')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            })
            .collect();
        Ok(())
    }

    /// Saves the current state as a checkpoint at `path` (atomically).
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), String> {
        let mut t: Named = Vec::new();
        checkpoint::collect(&self.g, "G", Some("optG"), &mut t);
        checkpoint::collect(&self.d, "D", Some("optD"), &mut t);
        if let Some(e) = &self.g_ema {
            checkpoint::collect(e, "G_ema", None, &mut t);
        }
        let mut m = HashMap::new();
        meta_f(&mut m, "format", "gan-train-host checkpoint v1");
        meta_f(&mut m, "arch", format!("{:?}", self.cfg.arch));
        meta_f(&mut m, "preset", &self.cfg.arch.name);
        meta_f(&mut m, "z", self.cfg.arch.z);
        meta_f(&mut m, "classes", self.cfg.arch.classes);
        meta_f(
            &mut m,
            "g_widths",
            format!("{},{}", self.cfg.arch.g[0], self.cfg.arch.g[1]),
        );
        meta_f(
            &mut m,
            "d_widths",
            format!("{},{}", self.cfg.arch.d[0], self.cfg.arch.d[1]),
        );
        meta_f(&mut m, "epoch", self.epoch);
        meta_f(&mut m, "adam_t_g", self.opt_g.t);
        meta_f(&mut m, "adam_t_d", self.opt_d.t);
        meta_f(
            &mut m,
            "rng",
            self.rng.state().map(|v| v.to_string()).join(","),
        );
        meta_f(&mut m, "best_score", self.best.map_or(f64::NAN, |b| b.0));
        meta_f(&mut m, "best_epoch", self.best.map_or(0, |b| b.1));
        let hist: String = self
            .loss_history
            .iter()
            .fold(String::new(), |mut s, (a, b)| {
                let _ = write!(s, "{a},{b};");
                s
            });
        meta_f(&mut m, "loss_history", hist);
        checkpoint::save(path, &t, m)
    }

    /// The generator used for samples and export (the EMA one when enabled).
    pub fn sampling_generator(&mut self) -> &mut Sequential {
        match &mut self.g_ema {
            Some(e) => e,
            None => &mut self.g,
        }
    }

    /// One epoch over `data` (shuffled). Returns (loss_d, loss_g, D(x), D(G(z)), steps).
    fn epoch_pass(
        &mut self,
        splits: &Splits,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<(f64, f64, f64, f64, usize), String> {
        let data = &splits.train;
        let arch = self.cfg.arch.clone();
        let (zdim, classes) = (arch.z, arch.classes);
        let order = self.rng.permutation(data.len());
        let (mut sums, mut steps) = ([0f64; 4], 0usize);
        let start = Instant::now();
        for chunk in order.chunks(self.cfg.batch) {
            let n = chunk.len();
            // Real batch.
            self.real.clear();
            self.labels.clear();
            for &i in chunk {
                self.real.extend(data.image(i).iter().map(|&p| to_unit(p)));
                self.labels
                    .push(if classes > 0 { data.labels[i] } else { 0 });
            }
            // Latents and the labels the generator is asked for.
            self.z.clear();
            self.z.extend((0..n * zdim).map(|_| self.rng.normal()));
            self.fake_labels.clear();
            for _ in 0..n {
                let l = if classes > 0 {
                    self.rng.below(classes) as u8
                } else {
                    0
                };
                self.fake_labels.push(l);
            }
            let real_t = vec![1.0 - self.cfg.label_smoothing; n];
            let (ones, zeros) = (vec![1.0f32; n], vec![0.0f32; n]);

            // D step: real.
            self.d.zero_grad();
            feed_discriminator(&mut self.d, &self.real, &self.labels, data.h, data.w);
            let logits = self.d.forward(true).clone();
            let (loss_real, d_x) = bce_with_logits(&mut self.dlogits, &logits, &real_t);
            self.d.backward(&self.dlogits, false, true);
            // D step: fake (G's output, detached).
            fill_g_input(
                self.g.input_mut(),
                &self.z,
                &self.fake_labels,
                zdim,
                classes,
            );
            let fake = &self.g.forward(true).data;
            feed_discriminator(&mut self.d, fake, &self.fake_labels, data.h, data.w);
            let logits = self.d.forward(true).clone();
            let (loss_fake, d_gz) = bce_with_logits(&mut self.dlogits, &logits, &zeros);
            self.d.backward(&self.dlogits, false, true);
            self.opt_d.step(self.d.params_mut());

            // G step: D(G(z)) against 1, through D's input.
            self.g.zero_grad();
            let fake = &self.g.output().data;
            feed_discriminator(&mut self.d, fake, &self.fake_labels, data.h, data.w);
            let logits = self.d.forward(true).clone();
            let (loss_g, _) = bce_with_logits(&mut self.dlogits, &logits, &ones);
            // D's input is the image alone (the labels go to its first layer), so its input
            // gradient is the gradient at G's output.
            self.d.backward(&self.dlogits, true, false);
            // That gradient is G's output gradient; G continues from it in D's buffers.
            self.d.lend_gradients(&mut self.g);
            self.g.backward_held(false, true);
            self.g.lend_gradients(&mut self.d);
            self.opt_g.step(self.g.params_mut());
            if let Some(e) = &mut self.g_ema {
                ema_update(e, &mut self.g, self.cfg.ema);
            }

            let loss_d = loss_real + loss_fake;
            if !loss_d.is_finite() || !loss_g.is_finite() {
                return Err(format!(
                    "training diverged at epoch {} step {steps}: loss_D {loss_d}, loss_G {loss_g}",
                    self.epoch + 1
                ));
            }
            for (s, v) in sums.iter_mut().zip([loss_d, loss_g, d_x, d_gz]) {
                *s += v as f64;
            }
            steps += 1;
            self.loss_history.push((loss_d, loss_g));
            if let Some(bar) = bar {
                let ips = (steps * self.cfg.batch) as f64 / start.elapsed().as_secs_f64();
                bar.set_message(format!("loss_D {loss_d:.3} loss_G {loss_g:.3} D(x) {d_x:.3} D(G(z)) {d_gz:.3} {ips:.0} img/s"));
                bar.inc(1);
            }
        }
        let s = steps.max(1) as f64;
        Ok((sums[0] / s, sums[1] / s, sums[2] / s, sums[3] / s, steps))
    }

    /// The fixed-seed samples: one row per class (or 10 rows unconditional), columns from the
    /// latents gan-infer draws for seeds 0..10, eval mode; returns (rows, images).
    pub fn sample_images(&mut self) -> (usize, Vec<Vec<u8>>) {
        let arch = self.cfg.arch.clone();
        let rows = if arch.classes > 0 { arch.classes } else { 10 };
        let cols = 10;
        let mut z = Vec::with_capacity(rows * cols * arch.z);
        let mut labels = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let mut s = gan_infer::LatentSampler::new(c as u64);
                z.extend((0..arch.z).map(|_| s.next_q12() as f32 / 4096.0));
                labels.push(if arch.classes > 0 { r as u8 } else { 0 });
            }
        }
        let g = self.sampling_generator();
        fill_g_input(g.input_mut(), &z, &labels, arch.z, arch.classes);
        let out = g.forward(false);
        (
            rows,
            (0..rows * cols)
                .map(|i| out.sample_chw(i).iter().map(|&v| to_pixel(v)).collect())
                .collect(),
        )
    }

    /// The sample grid of [`sample_images`](Self::sample_images) (gray separators, 2x scale).
    pub fn sample_grid(&mut self) -> (u32, u32, Vec<u8>) {
        let (rows, imgs) = self.sample_images();
        grid(&imgs, rows, 10, 28, 28, 2)
    }

    /// Trains up to `cfg.epochs`, writing every per-epoch output.
    pub fn run(
        &mut self,
        splits: &Splits,
        evaluator: Option<&Evaluator>,
    ) -> Result<Summary, String> {
        let out = self.cfg.out.clone();
        let io =
            |p: &Path, b: &[u8]| write_atomic(p, b).map_err(|e| format!("{}: {e}", p.display()));
        let mut rates = Vec::new();
        let mut stopped = None;
        let steps_per_epoch = splits.train.len().div_ceil(self.cfg.batch);
        while self.epoch < self.cfg.epochs {
            let bar = self.cfg.progress.then(|| {
                let b = indicatif::ProgressBar::new(steps_per_epoch as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "epoch {prefix} [{bar:30}] {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_prefix(format!("{}/{}", self.epoch + 1, self.cfg.epochs));
                b
            });
            let t0 = Instant::now();
            // The epoch runs on a worker of the rayon pool, so every parallel product starts on
            // the thread that asks for it instead of waking the pool from outside and waiting.
            let pass = rayon::join(|| self.epoch_pass(splits, bar.as_ref()), || ()).0;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let (ld, lg, dx, dgz, steps) = match pass {
                Ok(v) => v,
                Err(e) => {
                    stopped = Some(format!(
                        "{e}; best checkpoint kept at {}",
                        out.join("best.safetensors").display()
                    ));
                    break;
                }
            };
            let secs = t0.elapsed().as_secs_f64();
            let ips = splits.train.len() as f64 / secs;
            rates.push(ips);
            self.epoch += 1;
            if !weights_finite(&mut self.g) || !weights_finite(&mut self.d) {
                stopped = Some(format!(
                    "weights became NaN/inf in epoch {}; best checkpoint kept",
                    self.epoch
                ));
                break;
            }
            // Validation score: classifier-FID of generated vs held-out digits (lower is better).
            let (fid, acc) = match evaluator {
                Some(ev) if self.cfg.eval_samples > 0 => {
                    let arch = self.cfg.arch.clone();
                    let n = self.cfg.eval_samples;
                    let r = ev.evaluate_sequential(self.sampling_generator(), &arch, n, 7);
                    (Some(r.fid), Some(r.accuracy))
                }
                _ => (None, None),
            };
            let _ = writeln!(
                self.csv,
                "{},{steps},{ld:.5},{lg:.5},{dx:.4},{dgz:.4},{ips:.1},{secs:.2},{},{}",
                self.epoch,
                fid.map_or(String::new(), |f| format!("{f:.4}")),
                acc.map_or(String::new(), |a| format!("{a:.4}"))
            );
            let (w, h, px) = self.sample_grid();
            io(
                &out.join(format!("samples/epoch-{:03}.png", self.epoch)),
                &gray_png(w, h, &px),
            )?;
            io(&out.join("metrics.csv"), self.csv.as_bytes())?;
            let improved = match (fid, self.best) {
                (Some(f), Some((b, _))) => f < b,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if improved {
                self.best = fid.map(|f| (f, self.epoch));
            }
            let ck = out.join(format!("checkpoints/epoch-{:03}.safetensors", self.epoch));
            self.save_checkpoint(&ck)?;
            let copy = |to: &str| {
                let to = out.join(to);
                copy_atomic(&ck, &to).map_err(|e| format!("{}: {e}", to.display()))
            };
            copy("last.safetensors")?;
            if improved || fid.is_none() {
                copy("best.safetensors")?;
            }
            let plot = crate::plot::loss_plot(&self.loss_history, 640, 240);
            io(&out.join("losses.png"), &gray_png(640, 240, &plot))?;
            eprintln!(
                "epoch {}/{}: {secs:.1} s {ips:.0} img/s loss_D {ld:.3} loss_G {lg:.3} D(x) {dx:.3} D(G(z)) {dgz:.3}{}",
                self.epoch,
                self.cfg.epochs,
                fid.map_or(String::new(), |f| format!(" FID {f:.3} acc {:.1}%", acc.unwrap_or(0.0) * 100.0))
            );
            if let (Some((_, be)), true) = (self.best, self.cfg.patience > 0) {
                if self.epoch - be >= self.cfg.patience {
                    stopped = Some(format!(
                        "early stop: no better FID for {} epochs (best at epoch {be})",
                        self.cfg.patience
                    ));
                    break;
                }
            }
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        Ok(Summary {
            epochs: self.epoch,
            best: self.best,
            median_img_per_s: rates.get(rates.len() / 2).copied().unwrap_or(0.0),
            stopped,
        })
    }
}

fn weights_finite(net: &mut Sequential) -> bool {
    net.params_mut()
        .iter()
        .all(|p| p.w.iter().all(|v| v.is_finite()))
}

/// `ema = decay * ema + (1 - decay) * w` for every parameter; BN running statistics copied.
pub fn ema_update(ema: &mut Sequential, g: &mut Sequential, decay: f32) {
    for (e, w) in ema.params_mut().into_iter().zip(g.params_mut()) {
        for (a, &b) in e.w.iter_mut().zip(&w.w) {
            *a = decay * *a + (1.0 - decay) * b;
        }
    }
    for (le, lg) in ema.layers.iter_mut().zip(&g.layers) {
        if let (crate::engine::Layer::BatchNorm(a), crate::engine::Layer::BatchNorm(b)) = (le, lg) {
            a.running_mean.clone_from(&b.running_mean);
            a.running_var.clone_from(&b.running_var);
        }
    }
}
