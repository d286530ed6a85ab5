//! Any byte string given to the parser yields Ok or a typed error; whatever validates must
//! also run a forward pass without panicking. Run: `cargo +nightly fuzz run parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = gan_infer::Model::from_bytes(data) {
        let mut arena = [0u8; 1 << 16];
        if let Some(g) = model.generator() {
            let mut img = [0u8; 4096];
            let n = g.image_shape().len().min(img.len());
            let label = (g.num_classes() > 0).then_some(0);
            let _ = g.generate(7, label, &mut arena, &mut img[..n]);
        }
        if let Some(d) = model.discriminator() {
            let img = [128u8; 4096];
            let n = d.image_shape().len().min(img.len());
            let label = (d.num_classes() > 0).then_some(0);
            let _ = d.score(&img[..n], label, &mut arena);
        }
    }
});
