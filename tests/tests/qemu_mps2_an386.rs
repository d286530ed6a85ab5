//! The Cortex-M4F firmware generates 20 digits with the int8 model and 20 with the f16 model,
//! each (pixels and discriminator probability) bit-identical to the host's (its build script
//! computed the host's answers with the same gan-infer). Needs `qemu-system-arm`.

#[test]
fn int8_and_f16_digits_are_bit_identical_to_the_host() {
    let elf = gan_tests::build_board(
        "qemu-mps2-an386",
        "qemu-mps2-an386",
        "thumbv7em-none-eabihf",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = gan_tests::qemu("mps2-an386", "cortex-m4", &elf, &[])
        .output()
        .expect("qemu-system-arm must be installed");
    let log = gan_tests::decode_defmt(&elf, &out.stdout).unwrap();
    assert!(
        out.status.success(),
        "firmware reported mismatches (exit {:?}):\n{}",
        out.status,
        log.join("\n")
    );
    for tag in ["i8", "f16"] {
        let want = format!("{tag}: 20 digits, 20 checked against the host, 0 mismatches");
        assert!(
            log.contains(&want),
            "log lacks {want:?}:\n{}",
            log.join("\n")
        );
    }
}
