//! `gan bench train`: full training steps (D step + G step, batch 128) on the real digits; the
//! first epoch is a warm-up, the median of the others is reported with the peak RSS.

use std::fmt::Write;

use crate::data::Splits;
use crate::model::Arch;
use crate::train::{TrainConfig, Trainer};

/// Peak resident set size of this process in MiB (VmHWM).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs the benchmark; returns its report (JSON on the last line).
pub fn train(arch: Arch, splits: &Splits, epochs: usize) -> Result<String, String> {
    let out = std::env::temp_dir().join(format!("gan-bench-{}", std::process::id()));
    let mut times = Vec::new();
    let mut report = String::new();
    let name = arch.name.clone();
    let mut trainer = Trainer::new(TrainConfig {
        arch,
        epochs: 0,
        batch: 128,
        lr: 2e-4,
        betas: (0.5, 0.999),
        seed: 0,
        label_smoothing: 0.0,
        ema: 0.0,
        patience: 0,
        eval_samples: 0,
        out: out.clone(),
        resume: false,
        progress: false,
    })?;
    for e in 0..epochs {
        trainer.cfg.epochs = e + 1;
        let t0 = std::time::Instant::now();
        trainer.run(splits, None)?;
        let dt = t0.elapsed().as_secs_f64();
        let ips = splits.train.len() as f64 / dt;
        let _ = writeln!(
            report,
            "epoch {}/{epochs}{}: {dt:.2} s {ips:.1} img/s",
            e + 1,
            if e == 0 { " (warm-up)" } else { "" }
        );
        if e > 0 {
            times.push(ips);
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    times.sort_by(|a, b| a.total_cmp(b));
    let med = times[times.len() / 2];
    let _ = writeln!(
        report,
        "{{\"preset\": \"{name}\", \"threads\": {}, \"train_img_per_s_median\": {med:.1}, \"peak_rss_mib\": {:.1}}}",
        rayon::current_num_threads(),
        peak_rss_mib()
    );
    Ok(report)
}
