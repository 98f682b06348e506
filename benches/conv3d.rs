//! conv3d CPU throughput: forward ("fprop"), data gradient ("dgrad") and weight gradient
//! ("wgrad") on U-Net-like shapes, in GFLOP/s (2·M·K·N / time), next to a rayon-parallel
//! `matrixmultiply::sgemm` of a comparable GEMM measured in the same run.
//!
//! Run: `cargo bench --bench conv3d` (about a minute). Criterion reports each pass (its
//! throughput in "elem/s" is FLOP/s); a summary table (best of a few runs) prints the ratio
//! to sgemm, then the same for the portable im2col + sgemm path, checking both paths agree.
//! `CONV3D_ONLY=<case>,<pass>` runs one pass alone (for profiling).

use criterion::{Criterion, Throughput};
use rayon::prelude::*;
use std::time::{Duration, Instant};
use voxflow::ops::Conv3dGeom;
use voxflow::ops::conv3d::cpu::{self, Path};

/// `(name, input [n, d, h, w, cin], cout, stride)`, kernel 3, dilation 1.
const CASES: &[(&str, [usize; 5], usize, usize)] = &[
    ("64^3 16->32", [1, 64, 64, 64, 16], 32, 1),
    ("32^3 32->32", [1, 32, 32, 32, 32], 32, 1),
    ("128^3 2->16 s2", [1, 128, 128, 128, 2], 16, 2),
    ("64^3 18->16", [1, 64, 64, 64, 18], 16, 1),
    ("64^3 16->3", [1, 64, 64, 64, 16], 3, 1),
    ("32^3 48->32", [1, 32, 32, 32, 48], 32, 1),
];

/// The reference GEMM `[M, K]·[K, N]`: an im2col-sized problem.
const SGEMM: (usize, usize, usize) = (32768, 864, 32);
const SGEMM_ROWS: usize = 256;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / 16777216.0 - 0.5
        })
        .collect()
}

struct Sgemm {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Sgemm {
    fn new() -> Sgemm {
        let (m, k, n) = SGEMM;
        Sgemm {
            a: data(m * k, 1),
            b: data(k * n, 2),
            c: vec![0.0; m * n],
        }
    }
    fn run(&mut self) {
        let (_, k, n) = SGEMM;
        let (a, b) = (&self.a, &self.b);
        self.c
            .par_chunks_mut(SGEMM_ROWS * n)
            .enumerate()
            .for_each(|(i, c)| {
                // SAFETY: block `i` of `a` and `c`, all of `b`, within their lengths.
                unsafe {
                    matrixmultiply::sgemm(
                        c.len() / n,
                        k,
                        n,
                        1.0,
                        a.as_ptr().add(i * SGEMM_ROWS * k),
                        k as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
            });
    }
    fn flops() -> f64 {
        let (m, k, n) = SGEMM;
        2.0 * (m * k * n) as f64
    }
}

struct Conv {
    g: Conv3dGeom,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
}

impl Conv {
    fn new(x: [usize; 5], cout: usize, stride: usize) -> Conv {
        let g = Conv3dGeom::same(x, 3, cout, stride, 1).unwrap();
        Conv {
            x: data(x.iter().product(), 3),
            w: data(g.weight_len(), 4),
            b: data(cout, 5),
            dy: data(g.n * g.out_voxels() * cout, 6),
            g,
        }
    }
    fn pass(&self, pass: &str, path: Path) -> Vec<f32> {
        match pass {
            "fprop" => cpu::forward_with(path, &self.x, &self.w, Some(&self.b), &self.g),
            "dgrad" => cpu::backward_data_with(path, &self.dy, &self.w, &self.g),
            _ => cpu::backward_filter_with(path, &self.x, &self.dy, &self.g),
        }
    }
}

/// Best wall time of `reps` runs after one warm-up.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // Profiling aid: `CONV3D_ONLY=<case index>,<pass>` runs one pass in a loop and exits.
    if let Ok(only) = std::env::var("CONV3D_ONLY") {
        let (i, pass) = only.split_once(',').unwrap_or((&only, "fprop"));
        let (_, x, co, s) = CASES[i.parse::<usize>().unwrap()];
        let conv = Conv::new(x, co, s);
        let t = best(20, || {
            conv.pass(pass, Path::detect());
        });
        println!("{only}: {:.1} GFLOP/s", conv.g.flops() / t / 1e9);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    let path = Path::detect();
    let mut sg = Sgemm::new();
    {
        let mut grp = c.benchmark_group("sgemm");
        grp.throughput(Throughput::Elements(Sgemm::flops() as u64));
        grp.bench_function(format!("{SGEMM:?}"), |bch| bch.iter(|| sg.run()));
        grp.finish();
    }
    let convs: Vec<Conv> = CASES
        .iter()
        .map(|&(_, x, co, s)| Conv::new(x, co, s))
        .collect();
    for (&(name, ..), conv) in CASES.iter().zip(&convs) {
        let mut grp = c.benchmark_group(format!("conv3d {name}"));
        grp.throughput(Throughput::Elements(conv.g.flops() as u64));
        for pass in ["fprop", "dgrad", "wgrad"] {
            grp.bench_function(pass, |bch| bch.iter(|| conv.pass(pass, path)));
        }
        grp.finish();
    }

    println!(
        "\nthreads: {}, conv kernel path: {path:?}",
        rayon::current_num_threads()
    );
    let sgemm = Sgemm::flops() / best(5, || sg.run()) / 1e9;
    println!("sgemm {SGEMM:?}, {SGEMM_ROWS}-row blocks: {sgemm:.1} GFLOP/s");
    println!(
        "{:<16} {:>6} {:>9} {:>9} {:>7}",
        "case", "pass", "GFLOP/s", "ms", "/sgemm"
    );
    for (&(name, ..), conv) in CASES.iter().zip(&convs) {
        for pass in ["fprop", "dgrad", "wgrad"] {
            let t = best(3, || {
                conv.pass(pass, path);
            });
            let gf = conv.g.flops() / t / 1e9;
            println!(
                "{name:<16} {pass:>6} {gf:>9.1} {:>9.2} {:>6.0}%",
                t * 1e3,
                100.0 * gf / sgemm
            );
        }
    }
    if path != Path::Sgemm {
        println!("portable path (im2col tiles + sgemm), and its largest difference to the above:");
        for (&(name, ..), conv) in CASES.iter().zip(&convs) {
            for pass in ["fprop", "dgrad", "wgrad"] {
                let mut out = Vec::new();
                let t = best(2, || out = conv.pass(pass, Path::Sgemm));
                let gf = conv.g.flops() / t / 1e9;
                let fast = conv.pass(pass, path);
                let scale = out.iter().fold(0f32, |m, v| m.max(v.abs()));
                let diff = out
                    .iter()
                    .zip(&fast)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                println!(
                    "{name:<16} {pass:>6} {gf:>9.1} {:>9.2} {:>6.0}%   rel diff {:.1e}",
                    t * 1e3,
                    100.0 * gf / sgemm,
                    diff / scale
                );
                assert!(diff <= 1e-4 * scale, "{name} {pass}: the paths disagree");
            }
        }
    }
}
