//! gan-train-host: train a (conditional) DCGAN on the CPU with hand-written backprop, measure
//! it with its own digit classifier, quantize it and export it for `gan-infer`.
//! The `gan` binary is the command-line front end.

pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod convolve;
pub mod data;
pub mod engine;
pub mod eval;
pub mod export;
pub mod io;
pub mod model;
pub mod plot;
pub mod sample;
pub mod train;
