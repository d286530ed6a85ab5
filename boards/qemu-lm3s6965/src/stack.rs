//! Stack high-water mark by painting: the free RAM between the end of the statics and the
//! current stack pointer is filled with a pattern at start-up; later, the lowest overwritten
//! word tells how deep the stack went.

const PAINT: u32 = 0xC0DE_CAFE;

extern "C" {
    static mut __sheap: u32; // end of .bss/.uninit (cortex-m-rt)
    static _stack_start: u32; // top of RAM
}

fn bounds() -> (*mut u32, *mut u32) {
    let lo = &raw mut __sheap;
    let top = &raw const _stack_start as *mut u32;
    (lo, top)
}

/// Paints from the end of the statics up to 256 bytes below the current stack pointer.
pub fn paint() {
    let (lo, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize - 256;
    let mut p = lo;
    while (p as usize) < sp {
        // SAFETY: [__sheap, sp - 256) is RAM no static and no live stack frame uses.
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// Bytes of stack used at most so far.
pub fn high_water() -> usize {
    let (lo, top) = bounds();
    let mut p = lo;
    // SAFETY: reads RAM between the statics and the top of the stack.
    while p < top && unsafe { p.read_volatile() } == PAINT {
        p = unsafe { p.add(1) };
    }
    top as usize - p as usize
}

/// Bytes of RAM between the end of the statics and the top of RAM (stack + unused).
pub fn free_for_stack() -> usize {
    let (lo, top) = bounds();
    top as usize - lo as usize
}

/// Bytes of RAM taken by statics (.data + .bss, incl. the arena and framebuffer).
pub fn statics() -> usize {
    let (lo, _) = bounds();
    lo as usize - 0x2000_0000
}
