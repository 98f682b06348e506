//! Preprocessing against hand-computed values and an independent direct trilinear reference.

mod orient;
mod pipeline;
mod resample;

use super::*;
use std::path::Path;

pub(super) fn vol(data: Vec<f32>, dims: [usize; 3], spacing: [f64; 3]) -> Volume {
    let mut v = Volume::new(data, dims, Path::new("test")).unwrap();
    v.spacing = spacing;
    v
}

pub(super) fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "index {i}: {x} vs {y}\n{a:?}\n{b:?}");
    }
}

/// Deterministic pseudo-random values in [-1000, 1000).
pub(super) fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2000.0 - 1000.0
        })
        .collect()
}
