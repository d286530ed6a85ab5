//! Cortex-M4F (QEMU mps2-an386): generates digits with the int8 and the f16 tiny models and
//! checks each against the host's answer (CRC-32 of the pixels and the discriminator's Q16
//! probability, bit for bit). The semihosting command line `model=i8|f16 count=N score=0|1`
//! selects the work (default: both models, 20 digits each, scored and all checked); `count=0`
//! is the baseline for instruction counting and `score=0` costs the generator alone. Exits with success only when every checked digit matches.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use gan_infer::Model;

include!(concat!(env!("OUT_DIR"), "/models.rs"));

static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];

fn run(
    tag: &str,
    bytes: &'static [u8],
    expected: &[(u32, u16)],
    count: usize,
    score: bool,
    arena: &mut [u8],
) -> usize {
    let Ok(m) = Model::from_bytes(bytes) else {
        defmt::error!("{=str}: model does not validate", tag);
        return usize::MAX;
    };
    let (Some(g), Some(d)) = (m.generator(), m.discriminator()) else {
        return usize::MAX;
    };
    let mut img = [0u8; 784];
    let mut bad = 0;
    for i in 0..count {
        let label = Some((i % 10) as u8);
        if g.generate(1000 + i as u64, label, arena, &mut img).is_err() {
            return usize::MAX;
        }
        if !score {
            continue;
        }
        let Ok(p) = d.score(&img, label, arena) else {
            return usize::MAX;
        };
        let crc = gan_infer::crc32::crc32(&img);
        if let Some(&(want_crc, want_p)) = expected.get(i) {
            if (crc, p.q16()) != (want_crc, want_p) {
                defmt::error!(
                    "{=str} digit {}: crc {=u32:x} p {} host crc {=u32:x} p {}",
                    tag,
                    i,
                    crc,
                    p.q16(),
                    want_crc,
                    want_p
                );
                bad += 1;
            }
        }
    }
    let checked = if score { count.min(expected.len()) } else { 0 };
    defmt::info!(
        "{=str}: {} digits, {} checked against the host, {} mismatches",
        tag,
        count,
        checked,
        bad
    );
    bad
}

#[entry]
fn main() -> ! {
    let mut buf = [0u8; 96];
    let line = semihosting_cmdline::read(&mut buf);
    let mut which = "both";
    let mut count = EXPECTED_I8.len();
    let mut score = true;
    for w in line.split_whitespace() {
        if let Some(v) = w.strip_prefix("model=") {
            which = v;
        } else if let Some(v) = w.strip_prefix("count=") {
            count = v.parse().unwrap_or(count);
        } else if let Some(v) = w.strip_prefix("score=") {
            score = v != "0";
        }
    }
    // SAFETY: the only reference to ARENA, taken once here before anything else runs.
    let arena: &mut [u8] = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    let mut bad = 0;
    if which == "both" || which == "i8" {
        bad += run("i8", MODEL_I8, &EXPECTED_I8, count, score, arena);
    }
    if which == "both" || which == "f16" {
        bad += run("f16", MODEL_F16, &EXPECTED_F16, count, score, arena);
    }
    exit(bad == 0)
}

/// Ends the QEMU run with the semihosting exit status.
fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    exit(false)
}

#[exception]
unsafe fn HardFault(_ef: &ExceptionFrame) -> ! {
    exit(false)
}
