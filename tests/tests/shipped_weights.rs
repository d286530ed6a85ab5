//! Every model in weights/ loads, matches the sizes its model card states, and generates.
//! The card's table rows look like `| digits-tiny-i8.gan | I8 | 104078 | 11760 | ... |`
//! (file, precision, flash bytes, arena bytes, ...).

use gan_infer::{Model, Precision};
use gan_tests::repo_root;

const SHIPPED: [(&str, Precision); 3] = [
    ("digits-tiny-i8.gan", Precision::I8),
    ("digits-tiny-f16.gan", Precision::F16),
    ("digits-standard-i8.gan", Precision::I8),
];

#[test]
fn shipped_models_load_match_their_card_and_generate() {
    let card =
        std::fs::read_to_string(repo_root().join("weights/README.md")).expect("weights/README.md");
    for (file, precision) in SHIPPED {
        let bytes = std::fs::read(repo_root().join("weights").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let m = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (g, d) = (
            m.generator().expect("generator"),
            m.discriminator().expect("discriminator"),
        );
        assert_eq!(g.precision(), precision, "{file}");
        let arena = g.arena_bytes().max(d.arena_bytes());
        let row = card
            .lines()
            .find(|l| l.starts_with(&format!("| {file} ")))
            .unwrap_or_else(|| panic!("the model card has no row for {file}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2], format!("{precision:?}"), "{file}: card precision");
        assert_eq!(
            cells[3].replace(',', ""),
            bytes.len().to_string(),
            "{file}: card flash bytes"
        );
        assert_eq!(
            cells[4].replace(',', ""),
            arena.to_string(),
            "{file}: card arena bytes"
        );
        // It generates: ten classes give ten different images, each judged.
        let mut a = vec![0u8; arena];
        let mut imgs = Vec::new();
        for digit in 0..10u8 {
            let mut img = vec![0u8; g.image_shape().len()];
            g.generate(3, Some(digit), &mut a, &mut img).unwrap();
            d.score(&img, Some(digit), &mut a).unwrap();
            assert!(
                img.iter().any(|&p| p > 200) && img.iter().any(|&p| p < 50),
                "{file}: digit {digit} is not an image"
            );
            imgs.push(img);
        }
        imgs.sort();
        imgs.dedup();
        assert_eq!(imgs.len(), 10, "{file}: labels must change the image");
    }
}
