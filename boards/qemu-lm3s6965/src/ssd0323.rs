//! The SSD0323 OLED on the lm3s6965evb: SSI0 (a PL022 at 0x4000_8000) carries the bytes,
//! GPIO PC7 selects data (high) or command (low), PD0 is the OLED's chip select (active high).
//! Register writes are volatile accesses to fixed addresses; this module is the firmware's only
//! MMIO. [`Display`] is the embedded-graphics face of the panel.

use core::ptr::{read_volatile, write_volatile};

use counter_scene::Framebuffer;

const SYSCTL_RCGC1: *mut u32 = 0x400F_E104 as *mut u32;
const SYSCTL_RCGC2: *mut u32 = 0x400F_E108 as *mut u32;
const SSI0: usize = 0x4000_8000;
const SSI_CR0: *mut u32 = SSI0 as *mut u32;
const SSI_CR1: *mut u32 = (SSI0 + 0x04) as *mut u32;
const SSI_DR: *mut u32 = (SSI0 + 0x08) as *mut u32;
const SSI_SR: *mut u32 = (SSI0 + 0x0C) as *mut u32;
const SSI_CPSR: *mut u32 = (SSI0 + 0x10) as *mut u32;
const GPIOA: usize = 0x4000_4000;
const GPIOC: usize = 0x4000_6000;
const GPIOD: usize = 0x4000_7000;
const GPIO_DIR: usize = 0x400;
const GPIO_AFSEL: usize = 0x420;
const GPIO_DEN: usize = 0x51C;
const SR_TNF: u32 = 1 << 1;
const SR_RNE: u32 = 1 << 2;
const SR_BSY: u32 = 1 << 4;

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

fn set_bits(r: *mut u32, bits: u32) {
    // SAFETY: `r` is one of this module's fixed, word-aligned lm3s6965 register addresses.
    unsafe { write_volatile(r, read_volatile(r) | bits) }
}

fn write(r: *mut u32, v: u32) {
    // SAFETY: as in `set_bits`.
    unsafe { write_volatile(r, v) }
}

fn read(r: *mut u32) -> u32 {
    // SAFETY: as in `set_bits`.
    unsafe { read_volatile(r) }
}

/// The display; construct once with [`Oled::new`].
pub struct Oled {
    _private: (),
}

impl Oled {
    /// Clocks SSI0 and GPIO A/C/D, routes the SSI pins, sets up SSI0 as an 8-bit SPI master
    /// and the data/command and chip-select lines, then switches the display on.
    pub fn new() -> Self {
        set_bits(SYSCTL_RCGC1, 1 << 4); // SSI0
        set_bits(SYSCTL_RCGC2, (1 << 0) | (1 << 2) | (1 << 3)); // GPIO A, C, D
                                                                // PA2 (clock), PA3 (frame), PA5 (TX): alternate function.
        set_bits(reg(GPIOA + GPIO_AFSEL), 0b10_1100);
        set_bits(reg(GPIOA + GPIO_DEN), 0b10_1100);
        // PC7 (data/command) and PD0 (OLED chip select) as outputs.
        set_bits(reg(GPIOC + GPIO_DIR), 1 << 7);
        set_bits(reg(GPIOC + GPIO_DEN), 1 << 7);
        set_bits(reg(GPIOD + GPIO_DIR), 1);
        set_bits(reg(GPIOD + GPIO_DEN), 1);
        write(reg(GPIOD + (1 << 2)), 1); // chip select high: OLED selected
        write(SSI_CR1, 0); // disabled while configuring
        write(SSI_CR0, 0x7); // 8-bit frames (QEMU drops other sizes), SPI, mode 0
        write(SSI_CPSR, 2);
        write(SSI_CR1, 1 << 1); // enable
        let mut oled = Oled { _private: () };
        // Normal display mode, display on.
        oled.command(&[0xA4, 0xAF]);
        oled
    }

    fn data_mode(&mut self, data: bool) {
        // Let the last byte leave before switching the line.
        while read(SSI_SR) & SR_BSY != 0 {}
        write(reg(GPIOC + ((1 << 7) << 2)), if data { 1 << 7 } else { 0 });
    }

    fn send(&mut self, byte: u8) {
        while read(SSI_SR) & SR_TNF == 0 {}
        write(SSI_DR, byte as u32);
        // Drain what the transfer clocked in: QEMU stalls once 8 received bytes wait.
        while read(SSI_SR) & SR_RNE != 0 {
            let _ = read(SSI_DR);
        }
    }

    fn command(&mut self, bytes: &[u8]) {
        self.data_mode(false);
        bytes.iter().for_each(|&b| self.send(b));
    }

    /// Sends the whole framebuffer: window = all 64 columns (128 pixels) x 64 rows.
    pub fn flush(&mut self, fb: &Framebuffer) {
        self.command(&[0x15, 0, 63, 0x75, 0, 63]);
        self.data_mode(true);
        fb.bytes.iter().for_each(|&b| self.send(b));
        self.data_mode(false);
    }
}

/// The OLED as an embedded-graphics display: drawing goes to a framebuffer in RAM (the
/// SSD0323's own layout), [`Display::flush`] sends it. Any embedded-graphics drawing works.
pub struct Display {
    oled: Oled,
    fb: &'static mut Framebuffer,
}

impl Display {
    /// The display, drawing into `fb`.
    pub fn new(oled: Oled, fb: &'static mut Framebuffer) -> Self {
        Display { oled, fb }
    }

    /// Sends the framebuffer to the panel.
    pub fn flush(&mut self) {
        self.oled.flush(self.fb);
    }
}

impl embedded_graphics_core::geometry::OriginDimensions for Display {
    fn size(&self) -> embedded_graphics_core::geometry::Size {
        self.fb.size()
    }
}

impl embedded_graphics_core::draw_target::DrawTarget for Display {
    type Color = embedded_graphics_core::pixelcolor::Gray4;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = embedded_graphics_core::Pixel<Self::Color>>,
    {
        self.fb.draw_iter(pixels)
    }
}
