//! The digit classifier: a LeNet-style CNN trained with the project's engine. It measures the
//! GAN: its penultimate features give the classifier-FID, its predictions the class accuracy of
//! conditional samples.
//!
//! `1x28x28 -> Conv(32, k5, p2) ReLU -> Conv(32, k4, s2, p1) ReLU -> Conv(64, k3, p1) ReLU ->
//! Conv(64, k4, s2, p1) ReLU -> Flatten -> Linear(3136, 128) ReLU [features] -> Linear(128, 10)`.

use std::collections::HashMap;
use std::path::Path;

use crate::checkpoint::{self, Named};
use crate::data::{Dataset, NUM_CLASSES};
use crate::engine::adam::Adam;
use crate::engine::conv2d::Conv2d;
use crate::engine::init::{weights_init, InitRule};
use crate::engine::linear::Linear;
use crate::engine::loss::softmax_cross_entropy;
use crate::engine::{Layer, Rng, Sequential, Tensor};
use crate::model::to_unit;

/// Length of the feature vector used for FID.
pub const FEATURES: usize = 128;
/// Index of the layer whose output are the features (the ReLU after the first Linear).
pub const FEATURE_LAYER: usize = 10;

/// A fresh (zero) classifier.
pub fn classifier() -> Sequential {
    Sequential::new(vec![
        Layer::Conv2d(Conv2d::new(1, 32, 5, 1, 2, true)),
        Layer::Relu,
        Layer::Conv2d(Conv2d::new(32, 32, 4, 2, 1, true)),
        Layer::Relu,
        Layer::Conv2d(Conv2d::new(32, 64, 3, 1, 1, true)),
        Layer::Relu,
        Layer::Conv2d(Conv2d::new(64, 64, 4, 2, 1, true)),
        Layer::Relu,
        Layer::Flatten,
        Layer::Linear(Linear::new(64 * 49, FEATURES)),
        Layer::Relu,
        Layer::Linear(Linear::new(FEATURES, NUM_CLASSES)),
    ])
}

/// Fills the classifier's input with images given as pixels (each `28*28`).
pub fn fill_input(t: &mut Tensor, images: &[&[u8]]) {
    t.reset(1, images.len(), 28, 28);
    for (i, img) in images.iter().enumerate() {
        for (j, &p) in img.iter().enumerate() {
            t.data[i * 784 + j] = to_unit(p);
        }
    }
}

/// Runs the classifier (eval) on images; returns (features `n x 128`, predicted classes).
pub fn features_and_predictions(net: &mut Sequential, images: &[&[u8]]) -> (Vec<f64>, Vec<u8>) {
    let mut feats = Vec::with_capacity(images.len() * FEATURES);
    let mut preds = Vec::with_capacity(images.len());
    // Chunks of 64 keep the largest im2col matrix (conv2: 512 x 64*196) near 26 MB.
    for chunk in images.chunks(64) {
        fill_input(net.input_mut(), chunk);
        let logits = net.forward(false).clone();
        let f = net.activation(FEATURE_LAYER);
        let n = chunk.len();
        for j in 0..n {
            feats.extend((0..FEATURES).map(|k| f.data[k * n + j] as f64));
            let best = (0..NUM_CLASSES)
                .max_by(|&a, &b| logits.data[a * n + j].total_cmp(&logits.data[b * n + j]))
                .unwrap_or(0);
            preds.push(best as u8);
        }
    }
    (feats, preds)
}

/// Accuracy of the classifier on a dataset.
pub fn accuracy(net: &mut Sequential, data: &Dataset) -> f64 {
    let imgs: Vec<&[u8]> = (0..data.len()).map(|i| data.image(i)).collect();
    let (_, preds) = features_and_predictions(net, &imgs);
    preds
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| p == l)
        .count() as f64
        / data.len().max(1) as f64
}

/// Trains the classifier with Adam on `train` (random 1-pixel shifts as augmentation);
/// reports held-out accuracy per epoch through `log`.
pub fn train(
    train: &Dataset,
    test: &Dataset,
    epochs: usize,
    seed: u64,
    mut log: impl FnMut(usize, f32, f64),
) -> Sequential {
    let mut rng = Rng::new(seed);
    let mut net = classifier();
    weights_init(&mut net, InitRule::KaimingUniform, &mut rng);
    let mut opt = Adam::new(1e-3, 0.9, 0.999);
    let batch = 64;
    let mut dl = Tensor::default();
    let mut shifted = vec![0u8; 784];
    for epoch in 0..epochs {
        if epoch == epochs.saturating_sub(2) {
            opt.lr *= 0.3;
        }
        let order = rng.permutation(train.len());
        let mut loss_sum = 0.0;
        let mut batches = 0;
        for chunk in order.chunks(batch) {
            let n = chunk.len();
            let t = net.input_mut();
            t.reset(1, n, 28, 28);
            let mut labels = Vec::with_capacity(n);
            for (j, &i) in chunk.iter().enumerate() {
                let (dy, dx) = (rng.below(3) as isize - 1, rng.below(3) as isize - 1);
                let img = train.image(i);
                for y in 0..28isize {
                    for x in 0..28isize {
                        let (sy, sx) = (y - dy, x - dx);
                        shifted[(y * 28 + x) as usize] =
                            if (0..28).contains(&sy) && (0..28).contains(&sx) {
                                img[(sy * 28 + sx) as usize]
                            } else {
                                0
                            };
                    }
                }
                for (k, &p) in shifted.iter().enumerate() {
                    t.data[j * 784 + k] = to_unit(p);
                }
                labels.push(train.labels[i]);
            }
            net.zero_grad();
            let logits = net.forward(true).clone();
            let (loss, _) = softmax_cross_entropy(&mut dl, &logits, &labels);
            net.backward(&dl, false, true);
            opt.step(net.params_mut());
            loss_sum += loss;
            batches += 1;
        }
        log(
            epoch + 1,
            loss_sum / batches as f32,
            accuracy(&mut net, test),
        );
    }
    net
}

/// Saves the classifier (safetensors, PyTorch names `net.{i}.weight`).
pub fn save(net: &mut Sequential, path: &Path, test_accuracy: f64) -> Result<(), String> {
    let mut t: Named = Vec::new();
    checkpoint::collect(net, "", None, &mut t);
    let mut m = HashMap::new();
    m.insert("format".into(), "gan-train-host classifier v1".into());
    m.insert("heldout_accuracy".into(), format!("{test_accuracy:.4}"));
    checkpoint::save(path, &t, m)
}

/// Loads a saved classifier.
pub fn load(path: &Path) -> Result<Sequential, String> {
    let ck = checkpoint::load(path)
        .map_err(|e| format!("{e} (train one with `gan classifier train`)"))?;
    let mut net = classifier();
    ck.restore(&mut net, "", None)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(net)
}
