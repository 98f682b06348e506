//! Spatial-transformer benchmarks on the CPU: trilinear `grid_sample` forward, backward, and
//! backward to the coordinates alone (the training case) at 64³
//! (C = 1, a smooth random deformation of the identity grid), and the cumulative sum at 64³×3
//! along each axis. Criterion reports voxels/s; a summary at the end prints voxels/s and GB/s
//! of the bytes each call must touch at least (each input read once, each output written once).

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};
use voxflow::Rng;
use voxflow::ops::warp::cpu;
use voxflow::ops::{Padding, SampleGeom, VolGeom};

mod common;

const S: usize = 64;

struct Inputs {
    img: Vec<f32>,
    coords: Vec<f32>,
    dy: Vec<f32>,
    field: Vec<f32>,
    g: SampleGeom,
    vg: VolGeom,
}

fn inputs() -> Inputs {
    let mut rng = Rng::new(1);
    let n = S * S * S;
    Inputs {
        img: (0..n).map(|_| rng.uniform() as f32).collect(),
        coords: common::smooth_coords(S, &mut rng),
        dy: (0..n).map(|_| rng.uniform() as f32 - 0.5).collect(),
        field: (0..3 * n).map(|_| rng.uniform() as f32).collect(),
        g: SampleGeom {
            n: 1,
            in_dims: [S; 3],
            out_dims: [S; 3],
            c: 1,
            padding: Padding::Border,
        },
        vg: VolGeom::from5([1, S, S, S, 3]),
    }
}

/// The benchmarked calls: (name, minimal bytes touched, the call).
type Case<'a> = (&'static str, usize, Box<dyn Fn() + 'a>);

fn cases(x: &Inputs) -> Vec<Case<'_>> {
    let v = S * S * S;
    let mut cases: Vec<Case<'_>> = vec![
        // img + coords read, output written.
        (
            "grid_sample_fwd_64",
            4 * (v + 3 * v + v),
            Box::new(|| {
                black_box(cpu::grid_sample(&x.img, &x.coords, x.g));
            }),
        ),
        // img + coords + dy read, dimg + dcoords written.
        (
            "grid_sample_bwd_64",
            4 * (v + 3 * v + v + v + 3 * v),
            Box::new(|| {
                black_box(cpu::grid_sample_bwd(&x.img, &x.coords, &x.dy, x.g));
            }),
        ),
        // The same without the image gradient (the training case): dimg not written.
        (
            "grid_sample_bwd_coords_64",
            4 * (v + 3 * v + v + 3 * v),
            Box::new(|| {
                black_box(cpu::grid_sample_bwd_coords(&x.img, &x.coords, &x.dy, x.g));
            }),
        ),
    ];
    for (axis, name) in [
        "cumsum_64x3_axis_d",
        "cumsum_64x3_axis_h",
        "cumsum_64x3_axis_w",
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            name,
            4 * 2 * 3 * v,
            Box::new(move || {
                black_box(cpu::cumsum(&x.field, x.vg, axis, false));
            }),
        ));
    }
    cases
}

fn main() {
    let x = inputs();
    let voxels = (S * S * S) as u64;
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = c.benchmark_group("warp");
    group.throughput(Throughput::Elements(voxels));
    let cases = cases(&x);
    for (name, _, f) in &cases {
        group.bench_function(*name, |b| b.iter(f));
    }
    group.finish();
    c.final_summary();

    println!(
        "\nsummary ({} rayon threads; median of 15 calls):",
        rayon::current_num_threads()
    );
    for (name, bytes, f) in &cases {
        let mut t: Vec<f64> = (0..15)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        let m = t[t.len() / 2];
        println!(
            "{name:<26} {:8.3} ms  {:7.1} Mvoxel/s  {:6.2} GB/s",
            m * 1e3,
            voxels as f64 / m / 1e6,
            *bytes as f64 / m / 1e9
        );
    }
}
