#![doc = include_str!("../README.md")]
//!
//! # Crate layout
//!
//! voxflow is a tensor engine for 3D volumes (channels-last `[N, D, H, W, C]`, `f32`) with
//! reverse-mode autograd and Adam, and the deformable-registration training system built on it.
//!
//! Layers, from the bottom: [`tensor`] (data, shapes, devices), [`backend`] (buffers, memory,
//! runtimes, kernel launching; it imports no op), [`ops`] (differentiable operations, each
//! family with the kernel trait a device implements), [`autograd`] (the tape), [`nn`] (layers
//! and named parameters), [`train`] (optimizer). Nothing imports upward except [`tensor`], whose
//! methods reach their device's backend through [`ops::backend`] and record on the tape.
//!
//! # Determinism
//! On the CPU backend the same inputs give bitwise identical results run after run, and for any
//! number of threads: parallel work is split at fixed boundaries and reductions add their
//! partial sums in a fixed order.

pub mod autograd;
pub mod backend;
pub mod cli;
pub mod configfile;
pub mod console;
pub mod data;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod models;
pub mod nn;
pub mod ops;
pub mod report;
pub mod session;
pub mod tensor;
pub mod train;

#[cfg(test)]
mod testutil;

pub use autograd::{Grads, Tape};
pub use error::{Error, Result};
pub use tensor::{Device, Rng, Shape, Tensor};
