//! Embeds the int8 and f16 tiny models and the host's answers for them: for each of the first
//! `CHECKED` digits (digit `i % 10` from seed `1000 + i`), the CRC-32 of the generated pixels and
//! the discriminator's Q16 probability, computed here with the same gan-infer on the host.

use std::fmt::Write;
use std::path::PathBuf;

const CHECKED: usize = 20;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    std::fs::copy(dir.join("memory.x"), out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    let mut code = String::new();
    let mut arena = 0;
    for (tag, file) in [("I8", "digits-tiny-i8.gan"), ("F16", "digits-tiny-f16.gan")] {
        let path = dir
            .join("../../weights")
            .join(file)
            .canonicalize()
            .unwrap_or_else(|e| panic!("weights/{file}: {e}"));
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).unwrap();
        let m = gan_infer::Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (g, d) = (m.generator().unwrap(), m.discriminator().unwrap());
        arena = arena.max(g.arena_bytes()).max(d.arena_bytes());
        let mut a = vec![0u8; g.arena_bytes().max(d.arena_bytes())];
        let mut img = vec![0u8; g.image_shape().len()];
        let _ = writeln!(
            code,
            "pub static MODEL_{tag}: &[u8] = include_bytes!({:?});",
            path.display().to_string()
        );
        let _ = write!(
            code,
            "pub const EXPECTED_{tag}: [(u32, u16); {CHECKED}] = ["
        );
        for i in 0..CHECKED {
            let label = Some((i % 10) as u8);
            g.generate(1000 + i as u64, label, &mut a, &mut img)
                .unwrap();
            let p = d.score(&img, label, &mut a).unwrap();
            let _ = write!(
                code,
                "({:#010x}, {}), ",
                gan_infer::crc32::crc32(&img),
                p.q16()
            );
        }
        let _ = writeln!(code, "];");
    }
    let _ = writeln!(code, "pub const ARENA_BYTES: usize = {arena};");
    std::fs::write(out.join("models.rs"), code).unwrap();
}
