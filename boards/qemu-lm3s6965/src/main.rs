//! The counter demo on QEMU's lm3s6965evb (Cortex-M3, no FPU): an int8 GAN generates each
//! digit of a four-digit counter, its discriminator scores it, embedded-graphics draws both on
//! the emulated SSD0323 OLED.
//!
//! The semihosting command line chooses what to show: `frame=N` draws frame N, prints
//! `DRAWN N` on stderr and waits (for screen captures); without one, frames 0..=9 are drawn in
//! turn and the firmware exits successfully. The defmt log (stdout) reports digits, scores and
//! the memory figures. A panic or HardFault exits QEMU with failure.
#![no_std]
#![no_main]

mod ssd0323;
mod stack;

use core::sync::atomic::{AtomicBool, Ordering};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, heprintln};
use counter_scene::Framebuffer;
use defmt_semihosting as _;
use gan_infer::Model;

include!(concat!(env!("OUT_DIR"), "/model.rs"));

/// Reads `frame=N` from the semihosting command line, if there is one.
fn requested_frame() -> Option<u32> {
    let mut buf = [0u8; 64];
    semihosting_cmdline::read(&mut buf)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("frame=")?.parse().ok())
}

fn fail() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    stack::paint();
    let arena: &'static mut [u8; ARENA_BYTES] = match cortex_m::singleton!(: [u8; ARENA_BYTES] = [0; ARENA_BYTES])
    {
        Some(a) => a,
        None => fail(),
    };
    let fb: &'static mut Framebuffer = match cortex_m::singleton!(: Framebuffer = Framebuffer::new())
    {
        Some(f) => f,
        None => fail(),
    };
    let model = match Model::from_bytes(MODEL) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("model does not validate: {}", e);
            fail()
        }
    };
    let (Some(g), Some(d)) = (model.generator(), model.discriminator()) else {
        defmt::error!("model lacks a generator or discriminator");
        fail()
    };
    defmt::info!(
        "model {=str}: {} bytes in flash, {=?} generator, arena {} bytes",
        model.name(),
        MODEL.len(),
        g.precision(),
        ARENA_BYTES
    );
    let mut display = ssd0323::Display::new(ssd0323::Oled::new(), fb);
    let requested = requested_frame();
    let frames = match requested {
        Some(f) => f..=f,
        None => 0..=9,
    };
    for index in frames {
        let frame = match counter_scene::compute(index, &g, &d, &mut arena[..]) {
            Ok(f) => f,
            Err(e) => {
                defmt::error!("forward pass failed: {}", e);
                fail()
            }
        };
        let _ = counter_scene::draw(&mut display, &frame);
        display.flush();
        frame.log();
    }
    defmt::info!(
        "memory: flash model {} bytes, flash total {} bytes; RAM statics {} bytes (arena {}), stack high-water {} of {} bytes",
        MODEL.len(),
        flash_used(),
        stack::statics(),
        ARENA_BYTES,
        stack::high_water(),
        stack::free_for_stack()
    );
    match requested {
        Some(f) => {
            heprintln!("DRAWN {}", f);
            loop {
                cortex_m::asm::wfi();
            }
        }
        None => {
            debug::exit(debug::EXIT_SUCCESS);
            loop {
                cortex_m::asm::wfi();
            }
        }
    }
}

/// Flash bytes of the image: code and read-only data, plus the initial values of .data.
fn flash_used() -> usize {
    extern "C" {
        static __sidata: u32;
        static __sdata: u32;
        static __edata: u32;
    }
    let (sidata, sdata, edata) = (
        &raw const __sidata as usize,
        &raw const __sdata as usize,
        &raw const __edata as usize,
    );
    sidata + (edata - sdata)
}

static PANICKED: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    if !PANICKED.swap(true, Ordering::Relaxed) {
        defmt::error!("panic");
    }
    fail()
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    fail()
}

#[exception]
unsafe fn HardFault(_ef: &ExceptionFrame) -> ! {
    fail()
}
