//! One training step (forward, backward, Adam) of the default U-Net (SPEC 3.1: enc
//! [16,32,32,32], dec [32,32,32,32,16,16], diffeomorphic transformer) at 64³, batch 1, on the
//! CPU, as a plain stack of engine layers. Prints the step time and the peak heap memory of a
//! step (a counting allocator wraps the system one). Target: < 0.6 s per step on 2 cores.

use criterion::{Criterion, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use voxflow::backend::{LossKind, Padding};
use voxflow::nn::{Conv3d, Conv3dConfig, ConvBlock, NormKind, ParamStore, Params};
use voxflow::train::{Adam, AdamConfig};
use voxflow::{Device, Result, Rng, Tape, Tensor, ops};

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

const SIZE: usize = 64;

struct UNet {
    enc: Vec<ConvBlock>,
    dec: Vec<ConvBlock>,
    tail: [ConvBlock; 3],
    flow: Conv3d,
}

impl UNet {
    fn new(store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        let d = Device::Cpu;
        let mut block = |name: &str, cfg| ConvBlock::new(store, rng, name, cfg, NormKind::Batch, d);
        let enc = vec![
            block("enc1", Conv3dConfig::new(2, 16).stride(2))?,
            block("enc2", Conv3dConfig::new(16, 32).stride(2))?,
            block("enc3", Conv3dConfig::new(32, 32).stride(2))?,
            block("enc4", Conv3dConfig::new(32, 32).stride(2))?,
        ];
        let dec = vec![
            block("dec1", Conv3dConfig::new(32, 32))?,
            block("dec2", Conv3dConfig::new(64, 32))?,
            block("dec3", Conv3dConfig::new(64, 32))?,
        ];
        let tail = [
            block("dec4", Conv3dConfig::new(48, 32))?,
            block("dec5", Conv3dConfig::new(32, 16))?,
            block("dec6", Conv3dConfig::new(18, 16))?,
        ];
        let flow = Conv3d::new(store, rng, "gradient_flow", Conv3dConfig::new(16, 3), d)?;
        Ok(UNet {
            enc,
            dec,
            tail,
            flow,
        })
    }

    fn forward(&self, p: &Params, src: &Tensor, tgt: &Tensor) -> Result<Tensor> {
        let x_in = ops::concat_channels(&[src, tgt])?;
        let mut skips = vec![x_in.clone()];
        for b in &self.enc {
            let x = b.forward(p, skips.last().unwrap())?;
            skips.push(x);
        }
        let mut x = skips[4].clone();
        for (i, b) in self.dec.iter().enumerate() {
            let skip = &skips[3 - i];
            let up = ops::upsample_nearest(&b.forward(p, &x)?, spatial(skip))?;
            x = ops::concat_channels(&[&up, skip])?;
        }
        x = self.tail[1].forward(p, &self.tail[0].forward(p, &x)?)?;
        let up = ops::upsample_nearest(&x, spatial(&x_in))?;
        x = self.tail[2].forward(p, &ops::concat_channels(&[&up, &x_in])?)?;
        let phi = ops::affine(&ops::sigmoid(&self.flow.forward(p, &x)?)?, 2.0, 0.0)?;
        let grid = ops::warp::integrate_gradient(&phi)?;
        ops::grid_sample(src, &grid, Padding::Border)
    }
}

fn spatial(t: &Tensor) -> [usize; 3] {
    [t.dims()[1], t.dims()[2], t.dims()[3]]
}

fn step(net: &UNet, store: &mut ParamStore, adam: &mut Adam, src: &Tensor, tgt: &Tensor) -> f32 {
    let tape = Tape::new();
    let p = store.bind(&tape, true);
    let warped = net.forward(&p, src, tgt).unwrap();
    let loss = ops::loss(LossKind::Mse, &warped, tgt).unwrap();
    let value = loss.to_scalar().unwrap();
    let mut grads = tape.backward(&loss).unwrap();
    let named = p.grads(&mut grads);
    drop(grads);
    let updates = p.into_updates();
    adam.step(store, &named).unwrap();
    store.apply_updates(updates).unwrap();
    value
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(0);
    let mut store = ParamStore::new();
    let net = UNet::new(&mut store, &mut rng).unwrap();
    let mut adam = Adam::new(AdamConfig::default());
    let shape = [1, SIZE, SIZE, SIZE, 1];
    let src = Tensor::randn(shape, 0.0, 1.0, &mut rng, Device::Cpu).unwrap();
    let tgt = Tensor::randn(shape, 0.0, 1.0, &mut rng, Device::Cpu).unwrap();
    let (trainable, total) = store.count();
    println!("unet {SIZE}³: {trainable} trainable of {total} parameters");

    step(&net, &mut store, &mut adam, &src, &tgt); // warm-up: Adam moments now exist
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    step(&net, &mut store, &mut adam, &src, &tgt);
    let one = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed);
    println!(
        "unet {SIZE}³ step: {:.3} s; peak heap {:.1} MiB ({:.1} MiB above the {:.1} MiB held between steps)",
        one.as_secs_f64(),
        peak as f64 / 1048576.0,
        (peak - base) as f64 / 1048576.0,
        base as f64 / 1048576.0
    );

    let mut g = c.benchmark_group("unet_step");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("unet_64_fwd_bwd_adam", |b| {
        b.iter(|| step(&net, &mut store, &mut adam, &src, &tgt))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
