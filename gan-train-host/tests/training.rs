//! Training behaviour on the real digits, small and short: determinism, exact resume,
//! divergence handling, and losses that move the way a working GAN's do.

mod common;
use common::*;

use gan_train_host::train::Trainer;

#[test]
fn same_seed_gives_a_bit_identical_checkpoint() {
    let data = digits(384);
    let (a, b) = (tmpdir("det-a"), tmpdir("det-b"));
    train(config(&a, 1), &data);
    train(config(&b, 1), &data);
    let (ca, cb) = (
        std::fs::read(a.join("last.safetensors")).unwrap(),
        std::fs::read(b.join("last.safetensors")).unwrap(),
    );
    assert!(ca == cb, "two runs with one seed differ");
    let c = tmpdir("det-c");
    let mut other = config(&c, 1);
    other.seed = 6;
    train(other, &data);
    assert!(
        std::fs::read(c.join("last.safetensors")).unwrap() != ca,
        "another seed gives the same run"
    );
}

#[test]
fn resume_continues_exactly_where_a_run_stopped() {
    let data = digits(384);
    let (straight, split) = (tmpdir("resume-a"), tmpdir("resume-b"));
    train(config(&straight, 2), &data);
    train(config(&split, 1), &data);
    let mut again = config(&split, 2);
    again.resume = true;
    let s = train(again, &data);
    assert_eq!(s.epochs, 2);
    let a = std::fs::read(straight.join("last.safetensors")).unwrap();
    let b = std::fs::read(split.join("last.safetensors")).unwrap();
    assert!(
        a == b,
        "1 epoch + resume for 1 differs from 2 epochs straight"
    );
    assert!(split.join("samples/epoch-002.png").exists() && split.join("losses.png").exists());
    let csv = std::fs::read_to_string(split.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "header + 2 epochs:\n{csv}");
}

#[test]
fn resume_refuses_another_architecture() {
    let data = digits(128);
    let dir = tmpdir("resume-arch");
    train(config(&dir, 1), &data);
    let mut cfg = config(&dir, 2);
    cfg.resume = true;
    cfg.arch = gan_train_host::model::Arch::preset("digits-standard").unwrap();
    let err = Trainer::new(cfg).err().expect("must refuse");
    assert!(err.contains("cannot resume"), "{err}");
}

#[test]
fn divergence_stops_with_a_message_and_keeps_the_best_checkpoint() {
    let data = digits(256);
    let dir = tmpdir("diverge");
    train(config(&dir, 1), &data);
    let best = std::fs::read(dir.join("best.safetensors")).unwrap();
    let mut cfg = config(&dir, 3);
    cfg.resume = true;
    cfg.lr = 1e30; // Adam steps of ~1e30 overflow the activations
    let s = train(cfg, &data);
    let why = s.stopped.expect("a diverging run must stop");
    assert!(why.contains("diverged") || why.contains("NaN"), "{why}");
    assert_eq!(
        std::fs::read(dir.join("best.safetensors")).unwrap(),
        best,
        "best checkpoint must survive"
    );
}

#[test]
fn losses_move_the_way_a_working_gan_does() {
    // 4,096 digits (all classes), 5 epochs of batch 64: 320 steps.
    let data = digits(4096);
    let dir = tmpdir("dynamics");
    let mut cfg = config(&dir, 5);
    cfg.ema = 0.0;
    let mut t = Trainer::new(cfg).unwrap();
    let mean = |imgs: &[Vec<u8>]| {
        imgs.iter().flatten().map(|&p| p as f64).sum::<f64>() / (imgs.len() * 784) as f64
    };
    let before = mean(&t.sample_images().1);
    t.run(&data, None).unwrap();
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    // Columns: epoch, steps, loss_d, loss_g, d_x, d_g_z.
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(6).map(|v| v.parse().unwrap()).collect())
        .collect();
    eprintln!("{csv}");
    for r in &rows {
        assert!(r[2].is_finite() && r[3].is_finite());
        assert!(
            r[4] > r[5],
            "D tells real from fake better than chance: {r:?}"
        );
    }
    assert!(
        rows[0][2] < 2.0 * std::f64::consts::LN_2,
        "D learns in the first epoch: loss_D {}",
        rows[0][2]
    );
    // The adversarial signature: D wins first (D(G(z)) falls), then G catches up, so the
    // lowest D(G(z)) comes before the last epoch and the last is clearly above it.
    let dgz: Vec<f64> = rows.iter().map(|r| r[5]).collect();
    let (imin, min) = dgz
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let last = *dgz.last().unwrap();
    assert!(
        imin + 1 < dgz.len() && last > 1.3 * min,
        "G never catches up: D(G(z)) per epoch {dgz:?}"
    );
    // And the samples move towards the data (an untrained generator gives pixels ~127).
    let real_mean =
        data.train.images.iter().map(|&p| p as f64).sum::<f64>() / data.train.images.len() as f64;
    let after = mean(&t.sample_images().1);
    assert!(
        (after - real_mean).abs() < (before - real_mean).abs(),
        "mean pixel {before:.1} -> {after:.1}, real {real_mean:.1}"
    );
}
