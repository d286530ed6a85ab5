//! Losses, each returning the mean loss and writing its gradient.

use super::Tensor;

/// Binary cross-entropy on logits, averaged over the batch:
/// `l = mean(max(x, 0) - x*t + log(1 + exp(-|x|)))` (stable form), `dl/dx = (σ(x) - t) / N`.
/// Returns `(loss, mean σ(x))`.
pub fn bce_with_logits(dlogits: &mut Tensor, logits: &Tensor, targets: &[f32]) -> (f32, f32) {
    let n = logits.len();
    dlogits.reset(logits.c, logits.n, logits.h, logits.w);
    let mut loss = 0f64;
    let mut mean_p = 0f64;
    for (i, (&x, &t)) in logits.data.iter().zip(targets).enumerate().take(n) {
        let (x, t) = (x as f64, t as f64);
        loss += x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
        let p = 1.0 / (1.0 + (-x).exp());
        mean_p += p;
        dlogits.data[i] = ((p - t) / n as f64) as f32;
    }
    ((loss / n as f64) as f32, (mean_p / n as f64) as f32)
}

/// Softmax cross-entropy over `[classes, N]` logits with integer labels, averaged over the
/// batch. Returns `(loss, correct predictions)`.
pub fn softmax_cross_entropy(dlogits: &mut Tensor, logits: &Tensor, labels: &[u8]) -> (f32, usize) {
    let (k, n) = (logits.c, logits.n);
    dlogits.reset(k, n, 1, 1);
    let mut loss = 0f64;
    let mut correct = 0;
    for (j, &label) in labels.iter().enumerate().take(n) {
        let col = |c: usize| logits.data[c * n + j] as f64;
        let max = (0..k).map(col).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = (0..k).map(|c| (col(c) - max).exp()).sum();
        let y = label as usize;
        loss += -(col(y) - max - sum.ln());
        let arg = (0..k)
            .max_by(|&a, &b| col(a).total_cmp(&col(b)))
            .unwrap_or(0);
        correct += usize::from(arg == y);
        for c in 0..k {
            let p = (col(c) - max).exp() / sum;
            dlogits.data[c * n + j] = ((p - f64::from(u8::from(c == y))) / n as f64) as f32;
        }
    }
    ((loss / n as f64) as f32, correct)
}
