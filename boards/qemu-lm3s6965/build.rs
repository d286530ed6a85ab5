//! Embeds the model and sizes the arena from it: the model file is parsed here (with the same
//! gan-infer the firmware runs), so a model that does not validate fails the build, and
//! `ARENA_BYTES` is exactly what its networks need.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    std::fs::copy(dir.join("memory.x"), out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let model = std::env::var("GAN_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join("../../weights/digits-tiny-i8.gan"));
    let model = model
        .canonicalize()
        .unwrap_or_else(|e| panic!("model file {}: {e}", model.display()));
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rerun-if-env-changed=GAN_MODEL");
    let bytes = std::fs::read(&model).unwrap();
    let m =
        gan_infer::Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let g = m.generator().expect("the model needs a generator");
    let d = m
        .discriminator()
        .expect("the model needs a discriminator (scores)");
    assert_eq!(
        g.image_shape(),
        gan_infer::Shape::new(1, 28, 28),
        "the counter needs 28x28 digits"
    );
    assert_eq!(
        g.num_classes(),
        10,
        "the counter needs a conditional model with 10 classes"
    );
    let arena = g.arena_bytes().max(d.arena_bytes());
    std::fs::write(
        out.join("model.rs"),
        format!(
            "/// The embedded model file (stays in flash).\npub static MODEL: &[u8] = include_bytes!({:?});\n\
             /// Scratch bytes the model's networks need (the larger of G and D).\npub const ARENA_BYTES: usize = {arena};\n",
            model.display().to_string()
        ),
    )
    .unwrap();
}
