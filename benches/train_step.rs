//! One full training step (forward, loss, backward, Adam, BatchNorm statistics) of each
//! builder at its default configuration on the CPU, as `train` runs it: the U-Net at 64³ and
//! MariaNet at 32³, batch 1. Prints the step time and the peak heap memory of a step (a
//! counting allocator wraps the system one). Target for the U-Net: < 0.6 s per step.

use criterion::{Criterion, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use voxflow::models::{BuilderConfig, BuilderKind, Model, NetInputs};
use voxflow::nn::ParamStore;
use voxflow::nn::{Adam, AdamConfig};
use voxflow::ops::LossKind;
use voxflow::train::train_step;
use voxflow::{Device, Rng, Tensor, ops};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Setup {
    model: Model,
    store: ParamStore,
    adam: Adam,
    src: Tensor,
    tgt: Tensor,
}

fn setup(kind: BuilderKind, size: usize) -> Setup {
    let mut rng = Rng::new(0);
    let mut store = ParamStore::new();
    let cfg = BuilderConfig::defaults(kind);
    let model = Model::build(&cfg, &mut store, &mut rng, Device::Cpu).unwrap();
    let shape = [1, size, size, size, 1];
    let src = Tensor::randn(shape, 0.0, 1.0, &mut rng, Device::Cpu).unwrap();
    let tgt = Tensor::randn(shape, 0.0, 1.0, &mut rng, Device::Cpu).unwrap();
    Setup {
        model,
        store,
        adam: Adam::new(AdamConfig::default()),
        src,
        tgt,
    }
}

fn step(s: &mut Setup) -> f32 {
    let (model, src, tgt) = (&s.model, &s.src, &s.tgt);
    let (loss, _) = train_step(&mut s.store, &mut s.adam, |p| {
        let inputs = NetInputs {
            src,
            tgt,
            src_seg: None,
        };
        let out = model.forward(p, &inputs)?;
        let loss = ops::loss(LossKind::Mse, &out.deformed, tgt)?;
        voxflow::Result::Ok((loss.clone(), loss))
    })
    .unwrap();
    loss.to_scalar().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (kind, size) in [(BuilderKind::Unet, 64), (BuilderKind::MariaNet, 32)] {
        let mut s = setup(kind, size);
        let (trainable, total) = s.store.count();
        step(&mut s); // warm-up: Adam moments now exist
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        step(&mut s);
        let one = t.elapsed();
        let peak = PEAK.load(Ordering::Relaxed);
        println!(
            "{kind} {size}³ ({trainable} trainable of {total} parameters): step {:.3} s; peak heap \
             {:.1} MiB ({:.1} MiB above the {:.1} MiB held between steps)",
            one.as_secs_f64(),
            peak as f64 / 1048576.0,
            (peak - base) as f64 / 1048576.0,
            base as f64 / 1048576.0
        );
        g.bench_function(format!("{kind}_{size}"), |b| b.iter(|| step(&mut s)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
