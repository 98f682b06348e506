//! Kernel benchmarks on a kernel-running device (a CUDA GPU; the emulator works too, at a
//! crawl): conv3d fprop/dgrad/wgrad at the CPU bench's shapes plus `[1, 64³, 32→32]`, trilinear
//! sampling and its backward, elementwise, reductions, losses, normalization and Adam, and a
//! full U-Net training step. The device is synchronized before every timer read.
//!
//! Run: `VOXFLOW_BENCH_DEVICE=cuda:0 cargo bench --bench gpu_ops` (default `cuda:0`; without a
//! usable GPU it prints why and exits). Throughput: conv in FLOP/s ("elem/s"), memory-bound
//! kernels in bytes/s. `scripts/gpu-check.sh` builds and runs it on a GPU machine.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use voxflow::models::{BuilderConfig, BuilderKind, Model, NetInputs};
use voxflow::nn::ParamStore;
use voxflow::nn::{Adam, AdamConfig};
use voxflow::ops::{
    self, AdamStep, Backend, Conv3dGeom, LossKind, NormGeom, Padding, SampleGeom, Unary, VolGeom,
    backend,
};
use voxflow::tensor::{Device, Rng, Tensor};
use voxflow::train::step;

mod common;

fn device() -> Device {
    match std::env::var("VOXFLOW_BENCH_DEVICE").as_deref() {
        Ok("emu") => Device::Emu,
        Ok(s) => Device::Cuda(s.trim_start_matches("cuda:").parse().unwrap_or(0)),
        Err(_) => Device::Cuda(0),
    }
}

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / 16777216.0 - 0.5
        })
        .collect()
}

/// Times `iters` runs of `f` between two device synchronizations.
fn timed(be: &dyn Backend, iters: u64, mut f: impl FnMut()) -> Duration {
    be.synchronize().unwrap();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    be.synchronize().unwrap();
    t.elapsed()
}

fn conv(c: &mut Criterion, be: &'static dyn Backend) {
    // (name, input, cout, stride): the CPU bench's cases and the target shape.
    let cases: &[(&str, [usize; 5], usize, usize)] = &[
        ("64^3 32->32", [1, 64, 64, 64, 32], 32, 1),
        ("64^3 16->32", [1, 64, 64, 64, 16], 32, 1),
        ("32^3 32->32", [1, 32, 32, 32, 32], 32, 1),
        ("128^3 2->16 s2", [1, 128, 128, 128, 2], 16, 2),
        ("64^3 16->3", [1, 64, 64, 64, 16], 3, 1),
        ("128^3 16->16", [1, 128, 128, 128, 16], 16, 1),
    ];
    let mut g = c.benchmark_group("conv3d");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    for &(name, x5, cout, stride) in cases {
        let geom = Conv3dGeom::same(x5, 3, cout, stride, 1).unwrap();
        let x = be.upload(&data(x5.iter().product(), 1)).unwrap();
        let w = be.upload(&data(geom.weight_len(), 2)).unwrap();
        let dy = be
            .upload(&data(geom.n * geom.out_voxels() * cout, 3))
            .unwrap();
        g.throughput(Throughput::Elements(geom.flops() as u64));
        g.bench_function(BenchmarkId::new("fprop", name), |b| {
            b.iter_custom(|n| timed(be, n, || drop(be.conv3d(&x, &w, None, &geom).unwrap())))
        });
        g.bench_function(BenchmarkId::new("dgrad", name), |b| {
            b.iter_custom(|n| timed(be, n, || drop(be.conv3d_bwd_data(&dy, &w, &geom).unwrap())))
        });
        g.bench_function(BenchmarkId::new("wgrad", name), |b| {
            b.iter_custom(|n| {
                timed(be, n, || {
                    drop(be.conv3d_bwd_filter(&x, &dy, &geom).unwrap())
                })
            })
        });
    }
    g.finish();
}

fn memory_bound(c: &mut Criterion, be: &'static dyn Backend) {
    let s = 128;
    let vox = s * s * s;
    let mut g = c.benchmark_group("memory_bound");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    let x = be.upload(&data(vox * 16, 4)).unwrap();
    let y = be.upload(&data(vox * 16, 5)).unwrap();
    let bytes = (vox * 16 * 4) as u64;
    g.throughput(Throughput::Bytes(2 * bytes));
    g.bench_function("copy_like_affine_128^3x16", |b| {
        b.iter_custom(|n| {
            timed(be, n, || {
                drop(be.unary(Unary::Affine(1.0, 0.0), &x).unwrap())
            })
        })
    });
    g.bench_function("relu_128^3x16", |b| {
        b.iter_custom(|n| timed(be, n, || drop(be.unary(Unary::Relu, &x).unwrap())))
    });
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("sum_128^3x16", |b| {
        b.iter_custom(|n| timed(be, n, || drop(be.sum(&x).unwrap())))
    });
    g.throughput(Throughput::Bytes(2 * bytes));
    let vg = VolGeom::from5([1, s, s, s, 16]);
    g.bench_function("mse_128^3x16", |b| {
        b.iter_custom(|n| timed(be, n, || drop(be.loss(LossKind::Mse, &x, &y, vg).unwrap())))
    });
    g.bench_function("ncc_128^3x16", |b| {
        b.iter_custom(|n| timed(be, n, || drop(be.loss(LossKind::Ncc, &x, &y, vg).unwrap())))
    });
    let ng = NormGeom {
        n: 1,
        s: vox,
        c: 16,
        per_sample: true,
    };
    g.bench_function("instance_norm_stats_128^3x16", |b| {
        b.iter_custom(|n| timed(be, n, || drop(be.norm_stats(&x, ng).unwrap())))
    });
    g.throughput(Throughput::Bytes(7 * bytes));
    let m = be.upload(&vec![0.0; vox * 16]).unwrap();
    let v = be.upload(&vec![0.0; vox * 16]).unwrap();
    let step = AdamStep {
        lr_t: 1e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-7,
    };
    g.bench_function("adam_33M", |b| {
        b.iter_custom(|n| timed(be, n, || drop(be.adam(&x, &y, &m, &v, step).unwrap())))
    });
    g.finish();
}

fn sampling(c: &mut Criterion, be: &'static dyn Backend) {
    let mut g = c.benchmark_group("grid_sample");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    // 128³ (42 MB moved by the forward) and 256³ (335 MB, the size of the other memory-bound
    // benches' tensors and more: launch gaps no longer count).
    for s in [128usize, 256] {
        let vox = s * s * s;
        let img = be.upload(&data(vox, 6)).unwrap();
        let dy = be.upload(&data(vox, 7)).unwrap();
        let mut rng = Rng::new(1);
        // A smooth registration-like field, and at 128³ a worst case: every coordinate
        // jittered at random by up to ±1.5 voxels (neighbouring threads then read scattered
        // corners).
        let mut fields = vec![("smooth", common::smooth_coords(s, &mut rng))];
        if s == 128 {
            let jittered: Vec<f32> = (0..vox * 3)
                .map(|i| {
                    let p = i / 3;
                    let axis = [p % s, (p / s) % s, p / (s * s)][i % 3];
                    axis as f32 + (rng.uniform() as f32 - 0.5) * 3.0
                })
                .collect();
            fields.push(("jittered", jittered));
        }
        let geom = SampleGeom {
            n: 1,
            in_dims: [s, s, s],
            out_dims: [s, s, s],
            c: 1,
            padding: Padding::Border,
        };
        // Bytes each pass must move once: forward reads coordinates (12 B) and the image
        // (4 B) and writes values (4 B) per voxel; backward also reads dy and writes dcoords
        // and dimg.
        for (name, coords) in &fields {
            let coords = be.upload(coords).unwrap();
            g.throughput(Throughput::Bytes((vox * 20) as u64));
            g.bench_function(format!("forward_{s}^3_{name}"), |b| {
                b.iter_custom(|n| {
                    timed(be, n, || drop(be.grid_sample(&img, &coords, geom).unwrap()))
                })
            });
            g.throughput(Throughput::Bytes((vox * 36) as u64));
            g.bench_function(format!("backward_{s}^3_{name}"), |b| {
                b.iter_custom(|n| {
                    timed(be, n, || {
                        drop(be.grid_sample_bwd(&img, &coords, &dy, geom).unwrap())
                    })
                })
            });
            // The training case (the moving image needs no gradient): dimg is neither
            // computed nor written, 32 B per voxel.
            g.throughput(Throughput::Bytes((vox * 32) as u64));
            g.bench_function(format!("backward_coords_{s}^3_{name}"), |b| {
                b.iter_custom(|n| {
                    timed(be, n, || {
                        drop(be.grid_sample_bwd_coords(&img, &coords, &dy, geom).unwrap())
                    })
                })
            });
        }
    }
    g.finish();
}

fn train_step(c: &mut Criterion, dev: Device) {
    let be = backend(dev).unwrap();
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (kind, size) in [
        (BuilderKind::Unet, 64),
        (BuilderKind::Unet, 128),
        (BuilderKind::MariaNet, 64),
    ] {
        let mut rng = Rng::new(0);
        let mut store = ParamStore::new();
        let cfg = BuilderConfig::defaults(kind);
        let model = Model::build(&cfg, &mut store, &mut rng, dev).unwrap();
        let shape = [1, size, size, size, 1];
        let src = Tensor::randn(shape, 0.0, 1.0, &mut rng, dev).unwrap();
        let tgt = Tensor::randn(shape, 0.0, 1.0, &mut rng, dev).unwrap();
        let mut adam = Adam::new(AdamConfig::default());
        let mut step = || -> voxflow::Result<f32> {
            let (loss, _) = step::train_step(&mut store, &mut adam, |p| {
                let inputs = NetInputs {
                    src: &src,
                    tgt: &tgt,
                    src_seg: None,
                };
                let out = model.forward(p, &inputs)?;
                let loss = ops::loss(LossKind::Mse, &out.deformed, &tgt)?;
                voxflow::Result::Ok((loss.clone(), loss))
            })?;
            // The one host synchronization of a training step: reading the loss.
            loss.to_scalar()
        };
        if let Err(e) = step() {
            println!("train_step {kind}_{size}: skipped, {e}");
            continue;
        }
        g.bench_function(format!("{kind}_{size}"), |b| {
            b.iter_custom(|n| {
                timed(be, n, || {
                    step().unwrap();
                })
            })
        });
    }
    g.finish();
}

fn main() {
    let dev = device();
    let be = match backend(dev) {
        Ok(b) => b,
        Err(e) => {
            println!("gpu_ops: skipping, {e}");
            return;
        }
    };
    let mut c = Criterion::default().configure_from_args();
    conv(&mut c, be);
    memory_bound(&mut c, be);
    sampling(&mut c, be);
    train_step(&mut c, dev);
    c.final_summary();
}
