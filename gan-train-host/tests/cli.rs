//! The `gan` binary: bad input gets a clear error and a non-zero exit, never a panic, and
//! destroys nothing; the convolution lesson and inspect work end to end.

mod common;
use common::*;

use std::process::Command;

fn gan(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_gan"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_clean_failure(args: &[&str], needle: &str) {
    let (ok, _, err) = gan(args);
    assert!(!ok, "{args:?} must fail");
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

#[test]
fn bad_arguments_and_files_fail_cleanly() {
    let dir = tmpdir("cli");
    assert_clean_failure(&["train", "--preset", "nope"], "unknown preset");
    assert_clean_failure(&["train", "--data", "/nonexistent-dir"], "missing");
    assert_clean_failure(&["train", "--epochs", "0"], "--epochs");
    assert_clean_failure(&["frobnicate"], "unrecognized subcommand");
    let junk = dir.join("junk.gan");
    // A full header (magic, version 1, no flags) declaring 999 payload bytes, then 7.
    let mut bytes = b"GANm\x01\x00\x00\x00".to_vec();
    bytes.extend_from_slice(&999u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(b"garbage");
    std::fs::write(&junk, &bytes).unwrap();
    assert_clean_failure(&["inspect", junk.to_str().unwrap()], "not a valid model");
    assert_clean_failure(
        &[
            "sample",
            junk.to_str().unwrap(),
            "--out",
            dir.join("x.png").to_str().unwrap(),
        ],
        "payload length",
    );
    assert_clean_failure(
        &[
            "export",
            junk.to_str().unwrap(),
            "--out",
            dir.join("y.gan").to_str().unwrap(),
        ],
        "not a safetensors file",
    );
    assert_clean_failure(
        &[
            "convolve",
            "--mnist-index",
            "0",
            "--kernel",
            "[[1,2],[3,4]]",
            "--out",
            "/tmp/z.png",
        ],
        "--kernel",
    );
    // A failing export must not touch an existing output file.
    let existing = dir.join("keep.gan");
    std::fs::write(&existing, b"precious").unwrap();
    assert_clean_failure(
        &[
            "export",
            junk.to_str().unwrap(),
            "--out",
            existing.to_str().unwrap(),
        ],
        "not a safetensors file",
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");
}

#[test]
fn convolution_lesson_prints_matrices_and_writes_the_image() {
    let dir = tmpdir("convolve");
    let out = dir.join("edges.png");
    let (ok, stdout, err) = gan(&[
        "convolve",
        "--mnist-index",
        "3",
        "--kernel",
        "sobel-x",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("kernel sobel-x")
            && stdout.contains("input (rows")
            && stdout.contains("output (rows"),
        "{stdout}"
    );
    let png = std::fs::read(&out).unwrap();
    let (w, h, px) = gan_train_host::io::read_gray_png(&png).unwrap();
    assert_eq!((w, h), (28, 28));
    assert!(
        px.iter().any(|&p| p > 100),
        "an MNIST digit has strong vertical edges"
    );
}
