//! Benchmarks of the evaluation metrics at the sizes of real scans: the exact Euclidean
//! distance transform (Felzenszwalb–Huttenlocher, anisotropic spacing) at 128³ and 256³, and
//! the full surface distances (two surfaces, two transforms, sort) of two overlapping
//! spheres at the same sizes. Criterion reports voxels/s.

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use voxflow::Rng;
use voxflow::metrics::{squared_edt, surface_distances};

const SPACING: [f64; 3] = [0.7, 0.7, 2.5];

/// About 1% random feature voxels (a dense EDT input) on an `n³` grid.
fn random_features(n: usize) -> Vec<bool> {
    let mut rng = Rng::new(7);
    (0..n * n * n).map(|_| rng.uniform() < 0.01).collect()
}

/// A ball of radius `r·n` centred at `c·n` (fractions of the size).
fn ball(n: usize, c: [f64; 3], r: f64) -> Vec<bool> {
    let s = n as f64;
    (0..n * n * n)
        .map(|i| {
            let p = [(i % n) as f64, (i / n % n) as f64, (i / (n * n)) as f64];
            (0..3).map(|a| (p[a] - c[a] * s).powi(2)).sum::<f64>() <= (r * s).powi(2)
        })
        .collect()
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for n in [128usize, 256] {
        let mut g = c.benchmark_group(format!("edt_{n}"));
        g.throughput(Throughput::Elements((n * n * n) as u64));
        let f = random_features(n);
        g.bench_function("squared_edt", |b| {
            b.iter(|| black_box(squared_edt(black_box(&f), [n; 3], SPACING)))
        });
        let a = ball(n, [0.45, 0.5, 0.5], 0.3);
        let bb = ball(n, [0.55, 0.5, 0.5], 0.3);
        g.bench_function("surface_distances", |b| {
            b.iter(|| black_box(surface_distances(&a, &bb, [n; 3], SPACING)))
        });
        g.finish();
    }
    c.final_summary();
}
