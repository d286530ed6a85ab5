//! The semihosting command line (QEMU: `-semihosting-config ...,arg=frame=3`), for the QEMU
//! firmware that takes its scenario from it.
#![no_std]

use cortex_m_semihosting::nr;

/// Reads the command line into `buf` and returns it (up to the first NUL). Empty when the host
/// has none, it does not fit, or it is not UTF-8.
///
/// SYS_GET_CMDLINE takes a block `[buffer address, buffer length]` and writes the text into the
/// buffer and its length into the block. The compiler sees only an address go to the host, so
/// both are read back with volatile loads: plain reads were observed to return the values from
/// before the call (an empty line) in release builds.
pub fn read(buf: &mut [u8]) -> &str {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most `block[1]` bytes into `buf` and the length back
    // into `block[1]`; both are live, exclusively borrowed locals.
    let r = unsafe { cortex_m_semihosting::syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if r != 0 {
        return "";
    }
    // SAFETY: `block` is a live local array of two words.
    let n = unsafe { core::ptr::read_volatile(block.as_ptr().add(1)) }.min(buf.len());
    for i in 0..n {
        // SAFETY: `i < n <= buf.len()`, so the pointer is inside `buf`.
        buf[i] = unsafe { core::ptr::read_volatile(buf.as_ptr().add(i)) };
    }
    let n = buf[..n].iter().position(|&b| b == 0).unwrap_or(n);
    core::str::from_utf8(&buf[..n]).unwrap_or("")
}
