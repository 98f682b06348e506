//! Tests of the warp family: `f64` references with finite-difference gradients, the axis and
//! channel conventions, known transforms, PyTorch golden values, errors and determinism.

mod device;
mod integrate;
mod sample;

use crate::tensor::Tensor;

/// Bit patterns of a tensor's values, for bitwise comparisons.
fn bits(t: &[f32]) -> Vec<u32> {
    t.iter().map(|v| v.to_bits()).collect()
}

/// The identity voxel grid `[n, d, h, w, 3]`: channel 0 = w index, 1 = h index, 2 = d index.
fn identity_grid(n: usize, [d, h, w]: [usize; 3]) -> Vec<f32> {
    let mut v = Vec::with_capacity(n * d * h * w * 3);
    for _ in 0..n {
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    v.extend([x as f32, y as f32, z as f32]);
                }
            }
        }
    }
    v
}

/// Runs `f` on a rayon pool of `threads` threads.
fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Values of a CPU tensor.
fn vals(t: &Tensor) -> Vec<f32> {
    t.to_vec().unwrap()
}
