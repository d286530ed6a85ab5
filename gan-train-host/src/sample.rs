//! `gan sample`: digits from a `.gan` model through gan-infer. Digit `k` of a requested class
//! comes from seed `seed + k`, exactly what a board computes for that seed and class. With
//! `best_of > 1`, the candidates are seeds `seed + k + j * 1_000_003` and the discriminator's
//! most "real" one is kept.

use gan_infer::Model;

/// `per_class` images (28x28 pixels) per label, in label order.
pub fn sample(
    model: &Model<'_>,
    labels: &[u8],
    per_class: usize,
    seed: u64,
    best_of: usize,
) -> Result<Vec<Vec<u8>>, String> {
    let g = model.generator().ok_or("the model has no generator")?;
    let d = model.discriminator();
    if best_of > 1 && d.is_none() {
        return Err("--best-of needs a discriminator in the model".into());
    }
    let conditional = g.num_classes() > 0;
    let mut arena = vec![0u8; g.arena_bytes().max(d.map_or(0, |d| d.arena_bytes()))];
    let npx = g.image_shape().len();
    let mut out = Vec::with_capacity(labels.len() * per_class);
    for &l in labels {
        if conditional && l as u16 >= g.num_classes() {
            return Err(format!(
                "digit {l} is not a class of this model ({} classes)",
                g.num_classes()
            ));
        }
        let label = conditional.then_some(l);
        for k in 0..per_class as u64 {
            let mut best: (Option<gan_infer::Probability>, Vec<u8>) = (None, vec![0; npx]);
            for j in 0..best_of.max(1) as u64 {
                let mut img = vec![0u8; npx];
                g.generate(seed + k + j * 1_000_003, label, &mut arena, &mut img)
                    .map_err(|e| e.to_string())?;
                let score = match d {
                    Some(d) if best_of > 1 => Some(
                        d.score(&img, label, &mut arena)
                            .map_err(|e| e.to_string())?,
                    ),
                    _ => None,
                };
                if j == 0 || score > best.0 {
                    best = (score, img);
                }
            }
            out.push(best.1);
        }
    }
    Ok(out)
}
