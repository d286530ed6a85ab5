//! For a board's `build.rs`: copies `memory.x` to the linker's search path, validates the
//! model (the file in `GAN_MODEL`, else the board's default) with the same gan-infer the
//! firmware runs, checks it fits the counter demo, and writes `$OUT_DIR/model.rs` with
//! `MODEL` (the file, embedded with `include_bytes!`, so it stays in flash) and `ARENA_BYTES`
//! (exactly what the model's networks need).

use std::path::PathBuf;

/// Does the whole job; `default_model` is relative to the board's directory.
pub fn embed_counter_model(default_model: &str) {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    std::fs::copy(dir.join("memory.x"), out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    let model = std::env::var("GAN_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| dir.join(default_model));
    let model = model
        .canonicalize()
        .unwrap_or_else(|e| panic!("model file {}: {e}", model.display()));
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rerun-if-env-changed=GAN_MODEL");
    let bytes = std::fs::read(&model).expect("model file");
    let m =
        gan_infer::Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let g = m.generator().expect("the counter needs a generator");
    let d = m
        .discriminator()
        .expect("the counter needs a discriminator (scores)");
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
    let code = format!(
        "/// The embedded model file (stays in flash).\npub static MODEL: &[u8] = include_bytes!({:?});\n\
         /// Scratch bytes the model's networks need (the larger of G and D).\npub const ARENA_BYTES: usize = {arena};\n",
        model.display().to_string()
    );
    std::fs::write(out.join("model.rs"), code).expect("model.rs");
}
