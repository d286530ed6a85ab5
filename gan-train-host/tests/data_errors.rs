//! Corrupt or inconsistent dataset files give their own errors.

mod common;
use common::*;

use gan_train_host::data::{
    encode_idx, load_dir, parse_npm_digits, stratified_split, DataError, Dataset,
};

fn write_set(dir: &std::path::Path, images: &[u8], labels: &[u8]) {
    for split in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
    }
}

#[test]
fn idx_defects_are_reported() {
    let dir = tmpdir("idx");
    let imgs = encode_idx(&[2, 28, 28], &[7u8; 2 * 784]);
    let labels = encode_idx(&[2], &[3, 4]);
    write_set(&dir, &imgs, &labels);
    let ok = load_dir(&dir).unwrap();
    assert_eq!((ok.train.len(), ok.train.labels[1]), (2, 4));

    let mut bad = imgs.clone();
    bad[3] = 0x01;
    write_set(&dir, &bad, &labels);
    assert!(matches!(load_dir(&dir), Err(DataError::BadMagic { .. })));

    write_set(&dir, &imgs[..imgs.len() - 5], &labels);
    assert!(matches!(load_dir(&dir), Err(DataError::Truncated { .. })));

    write_set(&dir, &imgs, &encode_idx(&[3], &[1, 2, 3]));
    assert!(matches!(
        load_dir(&dir),
        Err(DataError::CountMismatch {
            images: 2,
            labels: 3
        })
    ));

    write_set(&dir, &imgs, &encode_idx(&[2], &[1, 12]));
    assert!(matches!(
        load_dir(&dir),
        Err(DataError::LabelOutOfRange {
            index: 1,
            label: 12,
            ..
        })
    ));

    write_set(&dir, &encode_idx(&[2, 0, 28], &[]), &labels);
    assert!(matches!(load_dir(&dir), Err(DataError::BadDims { .. })));

    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    write_set(&dir, &imgs, &labels);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    assert!(matches!(load_dir(&dir), Err(DataError::Missing(_))));
}

#[test]
fn gzip_idx_is_read() {
    use std::io::Write;
    let dir = tmpdir("gz");
    let imgs = encode_idx(&[1, 28, 28], &[9u8; 784]);
    let labels = encode_idx(&[1], &[5]);
    for split in ["train", "t10k"] {
        for (name, bytes) in [
            (format!("{split}-images-idx3-ubyte.gz"), &imgs),
            (format!("{split}-labels-idx1-ubyte.gz"), &labels),
        ] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            std::fs::write(dir.join(name), e.finish().unwrap()).unwrap();
        }
    }
    let s = load_dir(&dir).unwrap();
    assert_eq!((s.train.labels[0], s.train.images[0]), (5, 9));
}

#[test]
fn npm_digit_files_and_the_split() {
    let p = std::path::Path::new("x.json");
    let json = format!("{{\"data\":[{}]}}", vec!["0.5"; 784].join(","));
    assert_eq!(parse_npm_digits(&json, p).unwrap(), vec![128u8; 784]);
    assert!(parse_npm_digits("{\"data\":[0.5,0.2]}", p).is_err());
    assert!(parse_npm_digits(&json.replace("0.5]", "1.5]"), p).is_err());
    // Stratified, deterministic, exact size.
    let n = 1000;
    let all = Dataset {
        images: vec![0; n * 784],
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        h: 28,
        w: 28,
    };
    let s = stratified_split(&all, 100, 1);
    assert_eq!((s.train.len(), s.test.len()), (900, 100));
    for c in 0..10u8 {
        assert_eq!(s.test.labels.iter().filter(|&&l| l == c).count(), 10);
    }
    assert_eq!(stratified_split(&all, 100, 1).test.labels, s.test.labels);
    // The real split is 9,000 / 1,000 stratified by class.
    let real = digits(usize::MAX);
    assert_eq!((real.train.len(), real.test.len()), (9000, 1000));
}
