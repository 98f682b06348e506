//! Geometry shared by several op families.

/// A volume `[n, dims, c]`, as seen by spatial ops such as the cumulative sum and the losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolGeom {
    pub n: usize,
    pub dims: [usize; 3],
    pub c: usize,
}

impl VolGeom {
    /// From `[n, d, h, w, c]`.
    pub fn from5(x: [usize; 5]) -> Self {
        VolGeom {
            n: x[0],
            dims: [x[1], x[2], x[3]],
            c: x[4],
        }
    }
    /// Voxels per sample.
    pub fn voxels(&self) -> usize {
        self.dims.iter().product()
    }
    /// All values.
    pub fn len(&self) -> usize {
        self.n * self.voxels() * self.c
    }
    /// True when it holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
