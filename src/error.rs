//! The engine's error type: every failure names the operation and the shapes or values at fault.

use crate::tensor::{Device, Shape};

/// Errors returned by the tensor engine. User-reachable paths return these instead of panicking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two or more shapes do not fit together for an operation.
    #[error("{op}: shape mismatch: {msg}")]
    Shape { op: &'static str, msg: String },

    /// A tensor has the wrong number of dimensions.
    #[error("{op}: expected a rank-{expected} tensor{what}, got shape {got}")]
    Rank {
        op: &'static str,
        expected: usize,
        what: &'static str,
        got: Shape,
    },

    /// Inputs to one operation live on different devices.
    #[error("{op}: inputs are on different devices ({a} and {b})")]
    DeviceMismatch {
        op: &'static str,
        a: Device,
        b: Device,
    },

    /// A scalar argument is out of its valid range.
    #[error("{op}: invalid argument: {msg}")]
    Invalid { op: &'static str, msg: String },

    /// A data buffer's length does not match the shape it is given.
    #[error("{op}: {len} values cannot have shape {shape} ({expected} values)")]
    DataLength {
        op: &'static str,
        len: usize,
        shape: Shape,
        expected: usize,
    },

    /// A device that is not available on this machine or in this build.
    #[error("device {device} is unavailable: {msg}")]
    DeviceUnavailable { device: Device, msg: String },

    /// A kernel launch failed or was given arguments that do not match the kernel.
    #[error("kernel {kernel}: {msg}")]
    Kernel { kernel: &'static str, msg: String },

    /// Autograd misuse, e.g. tensors from two different tapes in one operation.
    #[error("autograd: {0}")]
    Autograd(String),
}

/// Shorthand for `Result<T, voxflow::Error>`.
pub type Result<T> = std::result::Result<T, Error>;
