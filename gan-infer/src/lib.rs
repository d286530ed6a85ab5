#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod build;
pub mod crc32;
pub mod error;
pub mod format;
#[cfg(feature = "graphics")]
pub mod graphics;
pub mod kernels;
pub mod latent;
mod net;
pub mod quant;

pub use error::{FormatError, Net, RunError};
pub use format::{
    Activation, Layer, LayerQuant, ModelDesc, NetworkDesc, Op, Precision, Shape, TensorQuant,
};
pub use latent::LatentSampler;
pub use net::{Discriminator, Generator, Model, Probability};

/// A caller-owned arena of `N` bytes (e.g. a `static mut`-free `static` in a cell, or a local).
/// Size it from the model: [`Generator::arena_bytes`].
#[derive(Clone, Debug)]
pub struct Arena<const N: usize>(pub [u8; N]);

impl<const N: usize> Arena<N> {
    /// A zeroed arena.
    pub const fn new() -> Self {
        Arena([0; N])
    }
    /// The bytes, for `generate` / `score`.
    pub fn bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}
