//! The lm3s6965 firmware in QEMU draws exactly what the host computes: its emulated OLED,
//! captured over QMP, equals the host rendering of the same scene pixel for pixel, and its
//! defmt log reports the digits and discriminator scores the host computes, and memory that
//! fits the board. Needs `qemu-system-arm` (a missing QEMU fails these tests).

use std::path::PathBuf;
use std::sync::OnceLock;

use gan_tests::{
    ascii_art, build_board, capture_lm3s6965, decode_defmt, expected_rgb, host_render, repo_root,
};

fn firmware() -> &'static PathBuf {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| {
        build_board("qemu-lm3s6965", "qemu-lm3s6965", "thumbv7m-none-eabi")
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn model() -> Vec<u8> {
    std::fs::read(repo_root().join("weights/digits-tiny-i8.gan"))
        .expect("weights/digits-tiny-i8.gan")
}

fn scores_line(f: &counter_scene::Frame) -> String {
    let d = f.digits;
    let s: Vec<String> = f.scores.iter().map(|p| p.percent().to_string()).collect();
    format!(
        "frame {} value {} digits [{}, {}, {}, {}] scores% {}",
        f.index,
        f.value,
        d[0],
        d[1],
        d[2],
        d[3],
        s.join(" ")
    )
}

fn check_frame(frame: u32) {
    let elf = firmware();
    let cap = capture_lm3s6965(elf, frame).unwrap_or_else(|e| panic!("{e}"));
    let (want_frame, fb) = host_render(&model(), frame).unwrap();
    let want = expected_rgb(&fb);
    let differing = cap
        .rgb
        .chunks_exact(3)
        .zip(want.chunks_exact(3))
        .filter(|(a, b)| a != b)
        .count();
    if differing != 0 {
        panic!(
            "frame {frame}: {differing} of {} screen pixels differ\n--- QEMU ---\n{}--- host ---\n{}",
            512 * 256,
            ascii_art(&cap.rgb),
            ascii_art(&want)
        );
    }
    // The comparison is not vacuous: another frame's rendering differs from this capture.
    let (_, other) = host_render(&model(), frame + 1).unwrap();
    assert!(
        expected_rgb(&other) != cap.rgb,
        "frame {frame}'s capture also equals frame {}'s rendering",
        frame + 1
    );
    let log = decode_defmt(elf, &cap.stdout).unwrap();
    assert!(
        log.iter().any(|l| *l == scores_line(&want_frame)),
        "log lacks {:?}:\n{}",
        scores_line(&want_frame),
        log.join("\n")
    );
}

#[test]
fn first_frame_matches_host_pixel_for_pixel() {
    check_frame(0);
}

#[test]
fn later_frame_matches_host_pixel_for_pixel() {
    check_frame(7);
}

/// Without a frame request the firmware draws frames 0..=9 and exits successfully; every
/// frame's digits and int8 scores equal the host's, and the memory report fits the board.
#[test]
fn animation_log_and_memory_figures() {
    let elf = firmware();
    let out = gan_tests::qemu("lm3s6965evb", "cortex-m3", elf, &[])
        .output()
        .expect("qemu-system-arm must be installed");
    assert!(
        out.status.success(),
        "firmware exit {:?}; stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let log = decode_defmt(elf, &out.stdout).unwrap();
    let model = model();
    for frame in 0..10 {
        let (f, _) = host_render(&model, frame).unwrap();
        assert!(
            log.contains(&scores_line(&f)),
            "frame {frame}: log lacks {:?}:\n{}",
            scores_line(&f),
            log.join("\n")
        );
    }
    let mem = log
        .iter()
        .find(|l| l.starts_with("memory:"))
        .expect("memory line");
    let nums: Vec<usize> = mem
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect();
    // "memory: flash model M bytes, flash total F bytes; RAM statics S bytes (arena A), stack high-water H of R bytes"
    let [m, f, s, a, h, r] = nums[..] else {
        panic!("unexpected memory line {mem:?}")
    };
    assert_eq!(m, model.len());
    assert!(f > m && f <= 256 * 1024, "flash {f}");
    assert!(
        a < s && s + r == 64 * 1024,
        "RAM statics {s} + stack region {r}"
    );
    assert!(h > 1024 && h < r, "stack high-water {h} of {r}");
    eprintln!("{mem}");
}
