//! `Shape`: the dimensions of a tensor, and the checks ops make on them.

use crate::error::{Error, Result};
use std::fmt;

/// Dimensions of a contiguous, row-major tensor. Volumes use `[N, D, H, W, C]` (channels last).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a rank-0 scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// The dimensions as a fixed-size array, or a rank error naming `op`.
    pub fn dims_n<const R: usize>(
        &self,
        op: &'static str,
        what: &'static str,
    ) -> Result<[usize; R]> {
        <[usize; R]>::try_from(self.0.as_slice()).map_err(|_| Error::Rank {
            op,
            expected: R,
            what,
            got: self.clone(),
        })
    }

    /// `[N, D, H, W, C]` of a volume tensor, or a rank error naming `op`.
    pub fn dims5(&self, op: &'static str) -> Result<[usize; 5]> {
        self.dims_n::<5>(op, " [N,D,H,W,C]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}

impl<const R: usize> From<[usize; R]> for Shape {
    fn from(v: [usize; R]) -> Self {
        Shape(v.to_vec())
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}
