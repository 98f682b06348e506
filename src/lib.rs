#![doc = include_str!("../README.md")]
//!
//! # Crate layout: three bands
//!
//! voxflow is a tensor engine for 3D volumes (channels-last `[N, D, H, W, C]`, `f32`) with
//! reverse-mode autograd and Adam, and the deformable-registration system built on it. Its
//! modules stand in three bands; nothing imports upward across them.
//!
//! - **Engine** (knows nothing of sessions, scans or commands): [`tensor`] (data, shapes,
//!   devices), [`backend`] (buffers, memory and runtimes: CPU, CUDA, the emulator; it imports
//!   no op), [`ops`] (the differentiable operations, one folder per family, each declaring its
//!   kernel trait beside its CPU and GPU implementations; [`ops::Backend`] is their sum),
//!   [`autograd`] (the tape), [`nn`] (layers, the named parameter store, Adam).
//! - **Domain** (files, formats and the registration problem; imports the engine, never a
//!   command): [`data`] (volume I/O, datasets, preprocessing, generators, the phantom),
//!   [`models`] (builder.toml, U-Net, MariaNet, the spatial transformer), [`metrics`] (Dice,
//!   surface distances, Jacobian), [`session`] (the session directory: paths, ids, split,
//!   lock, history, checkpoints, config.toml, logs.txt, the dataset, `voxflow new`, the
//!   network restored for inference), [`report`] (TensorBoard, PNG figures, observations),
//!   [`registration`] (physical-space grids, displacement fields, the instance optimization
//!   and refinement, a network's prediction as a world map, before/after scores).
//! - **Commands** (what a user runs): [`train`] (the training loop), [`eval`] (eval, show,
//!   inspect), [`register`] (`voxflow register`), [`cli`] (flags) and the binaries. Commands do not import each other: what two
//!   need moves down into the domain.
//!
//! Shared helpers below every band: [`error`] (the engine's error), [`fsutil`] (atomic writes,
//! [`fsutil::IoError`]), [`configfile`] (TOML errors naming file and key), [`console`],
//! [`interrupt`] (Ctrl-C).
//!
//! The rules are checkable with grep: `src/backend` names no `crate::ops`; `src/{data,models,
//! metrics,session,report,nn,registration}` name no command (`crate::train`, `crate::eval`,
//! `crate::register`); no command names another. No function outside tests is longer
//! than 120 lines. Tests live in a module's `tests.rs` or `tests/<topic>.rs` (a one-file module
//! keeps them in its `mod tests` at the end), with one scratch-directory helper.
//!
//! One exception to "nothing imports upward" inside the engine: [`tensor`]'s methods reach
//! their device's backend through [`ops::backend`] and record on the tape.
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
pub mod interrupt;
pub mod metrics;
pub mod models;
pub mod nn;
pub mod ops;
pub mod register;
pub mod registration;
pub mod report;
pub mod session;
pub mod tensor;
pub mod train;

#[cfg(test)]
mod testutil;

pub use autograd::{Grads, Tape};
pub use error::{Error, Result};
pub use tensor::{Device, Rng, Shape, Tensor};
