//! Export -> load -> generate round trips in all three precisions, against the f32 checkpoint.

mod common;
use common::*;

use gan_infer::build::RangeMethod;
use gan_infer::{Model, Precision};
use gan_train_host::export;

#[test]
fn export_round_trips_in_every_precision() {
    let data = digits(512);
    let dir = tmpdir("export");
    train(config(&dir, 2), &data);
    let (arch, g, d) = export::load_networks(&dir.join("last.safetensors")).unwrap();
    let (gn, dn) = export::float_networks(&arch, &g, &d).unwrap();
    // Stated tolerances (pixels 0..255, 100 seeds): f32 = the engine up to rounding;
    // f16 weights; int8 weights and activations.
    for (p, max_tol, mean_tol, psnr_min) in [
        (Precision::F32, 1, 0.05, 50.0),
        (Precision::F16, 3, 0.2, 45.0),
        (Precision::I8, 48, 2.0, 30.0),
    ] {
        let bytes =
            export::export("t", &arch, &g, &d, p, &data.train, 128, RangeMethod::MinMax).unwrap();
        let m = Model::from_bytes(&bytes).unwrap();
        assert_eq!(m.generator().unwrap().precision(), p);
        let (max, mean, psnr) = export::verify(&m, &gn, 100).unwrap();
        eprintln!("{p:?}: max {max} px, mean {mean:.3} px, PSNR {psnr:.1} dB");
        assert!(
            max <= max_tol && mean <= mean_tol && psnr >= psnr_min,
            "{p:?}: max {max} mean {mean} psnr {psnr}"
        );
        // The discriminator agrees with the f32 one (probability of real).
        let dd = m.discriminator().unwrap();
        let mut arena = vec![0u8; dd.arena_bytes()];
        for i in 0..10 {
            let img = data.train.image(i);
            let label = Some(data.train.labels[i]);
            let got = dd.score(img, label, &mut arena).unwrap().to_f32();
            let want = dn.forward(&export::d_input(img, label, 10))[0];
            let tol = if p == Precision::I8 { 0.06 } else { 0.002 };
            assert!((got - want).abs() <= tol, "{p:?} D: {got} vs {want}");
        }
        let text = export::inspect(&bytes).unwrap();
        assert!(
            text.contains("generator") && text.contains("MACs"),
            "{text}"
        );
    }
}

#[test]
fn unconditional_models_train_export_and_generate() {
    let data = digits(256);
    let dir = tmpdir("uncond");
    let mut cfg = config(&dir, 1);
    cfg.arch.classes = 0;
    train(cfg, &data);
    let (arch, g, d) = export::load_networks(&dir.join("last.safetensors")).unwrap();
    assert_eq!(arch.classes, 0);
    let bytes = export::export(
        "u",
        &arch,
        &g,
        &d,
        Precision::I8,
        &data.train,
        64,
        RangeMethod::MinMax,
    )
    .unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    let (gi, di) = (m.generator().unwrap(), m.discriminator().unwrap());
    assert_eq!(
        (gi.num_classes(), di.num_classes(), gi.latent_dim()),
        (0, 0, 20)
    );
    let mut arena = vec![0u8; gi.arena_bytes().max(di.arena_bytes())];
    let mut img = vec![0u8; 784];
    gi.generate(9, None, &mut arena, &mut img).unwrap();
    di.score(&img, None, &mut arena).unwrap();
    assert_eq!(
        gi.generate(9, Some(0), &mut arena, &mut img),
        Err(gan_infer::RunError::BadLabel {
            label: 0,
            classes: 0
        })
    );
    let (_, mean, psnr) =
        export::verify(&m, &export::float_networks(&arch, &g, &d).unwrap().0, 50).unwrap();
    assert!(
        mean <= 2.0 && psnr >= 30.0,
        "int8 vs f32: mean {mean} px, PSNR {psnr} dB"
    );
}
