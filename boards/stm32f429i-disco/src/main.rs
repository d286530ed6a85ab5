//! The counter demo on the STM32F429I-DISCO: GAN digits and discriminator scores on the
//! ILI9341 LCD (SPI5), drawn at 2x scale, a frame a second. defmt over RTT.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use counter_scene::framebuffer::{HEIGHT, WIDTH};
use counter_scene::Framebuffer;
use defmt_rtt as _;
use display_interface_spi::SPIInterface;
use embedded_graphics::pixelcolor::{Gray4, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal_bus::spi::ExclusiveDevice;
use ili9341::{DisplaySize240x320, Ili9341, Orientation};
use panic_probe as _;
use stm32f4xx_hal::{pac, prelude::*, spi::Spi};

include!(concat!(env!("OUT_DIR"), "/model.rs"));

/// Each OLED-sized scene pixel becomes a 2x2 block: 256x128 of the 320x240 landscape screen.
const SCALE: u32 = 2;

#[entry]
fn main() -> ! {
    let Some(dp) = pac::Peripherals::take() else {
        panic!("peripherals taken twice")
    };
    let Some(cp) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice")
    };
    let rcc = dp.RCC.constrain();
    let clocks = rcc.cfgr.use_hse(8.MHz()).sysclk(168.MHz()).freeze();
    let mut delay = cp.SYST.delay(&clocks);
    let gpioc = dp.GPIOC.split();
    let gpiod = dp.GPIOD.split();
    let gpiof = dp.GPIOF.split();
    let spi = Spi::new(
        dp.SPI5,
        (
            gpiof.pf7.into_alternate(),
            gpiof.pf8.into_alternate(),
            gpiof.pf9.into_alternate(),
        ),
        stm32f4xx_hal::spi::Mode {
            polarity: stm32f4xx_hal::spi::Polarity::IdleLow,
            phase: stm32f4xx_hal::spi::Phase::CaptureOnFirstTransition,
        },
        10.MHz(),
        &clocks,
    );
    let cs = gpioc.pc2.into_push_pull_output();
    let dc = gpiod.pd13.into_push_pull_output();
    let reset = gpiod.pd12.into_push_pull_output(); // LCD reset is wired to NRST; a spare pin
    let timer_delay = dp.TIM2.delay_us(&clocks);
    let Ok(device) = ExclusiveDevice::new(spi, cs, timer_delay); // its error type is Infallible
    let interface = SPIInterface::new(device, dc);
    let mut lcd = match Ili9341::new(
        interface,
        reset,
        &mut delay,
        Orientation::Landscape,
        DisplaySize240x320,
    ) {
        Ok(l) => l,
        Err(_) => defmt::panic!("ILI9341 initialisation failed"),
    };
    let _ = lcd.clear(Rgb565::BLACK);

    let counter = match counter_scene::Counter::from_model(MODEL) {
        Ok(c) => c,
        Err(e) => defmt::panic!("the model cannot draw the counter: {}", e),
    };
    defmt::info!(
        "model: {} bytes in flash, arena {} bytes",
        MODEL.len(),
        ARENA_BYTES
    );
    let Some(arena) = cortex_m::singleton!(: [u8; ARENA_BYTES] = [0; ARENA_BYTES]) else {
        defmt::panic!("arena taken twice")
    };
    let Some(fb) = cortex_m::singleton!(: Framebuffer = Framebuffer::new()) else {
        defmt::panic!("framebuffer taken twice")
    };
    let mut index = 0u32;
    loop {
        let frame = match counter.frame(index, &mut arena[..]) {
            Ok(f) => f,
            Err(e) => defmt::panic!("forward pass failed: {}", e),
        };
        let _ = counter_scene::draw(fb, &frame);
        // Stream the scene, scaled, as one rectangle: the driver's fast contiguous path.
        let area = Rectangle::new(
            Point::new(32, 56),
            Size::new(WIDTH as u32 * SCALE, HEIGHT as u32 * SCALE),
        );
        let s = SCALE as usize;
        let colors = (0..HEIGHT * s)
            .flat_map(|y| (0..WIDTH * s).map(move |x| (x / s, y / s)))
            .map(|(x, y)| Rgb565::from(Gray4::new(fb.level(x, y))));
        if lcd.fill_contiguous(&area, colors).is_err() {
            defmt::warn!("LCD write failed");
        }
        frame.log();
        index = index.wrapping_add(1);
        delay.delay_ms(1000);
    }
}
