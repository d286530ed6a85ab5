//! Shared fixtures: the real digits (fetched by the test command's set-up) and short runs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gan_train_host::data::{load_dir, Splits};
use gan_train_host::model::Arch;
use gan_train_host::train::{Summary, TrainConfig, Trainer};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `n` training digits spread over all classes. A missing dataset fails (the set-up fetches it).
pub fn digits(n: usize) -> Splits {
    let dir = repo().join("data/mnist");
    let mut s = load_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}: run scripts/setup.sh (gan data fetch mnist) first"));
    s.train = s.train.subsample(n);
    s
}

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gan-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn config(out: &Path, epochs: usize) -> TrainConfig {
    TrainConfig {
        arch: Arch::preset("digits-tiny").unwrap(),
        epochs,
        batch: 64,
        lr: 2e-4,
        betas: (0.5, 0.999),
        seed: 5,
        label_smoothing: 0.0,
        ema: 0.99,
        patience: 0,
        eval_samples: 0,
        out: out.to_path_buf(),
        resume: false,
        progress: false,
    }
}

pub fn train(cfg: TrainConfig, data: &Splits) -> Summary {
    Trainer::new(cfg).unwrap().run(data, None).unwrap()
}
