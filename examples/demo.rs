//! Engine demo: a tiny registration network learns to align two blobs.
//!
//! The network sees a source and a target volume (two Gaussian blobs, the target shifted by a
//! few voxels), predicts a non-negative spatial gradient `Φ = 2·sigmoid(·)`, integrates it into a
//! sampling grid by cumulative sums (channel 0 along W, 1 along H, 2 along D; `Φ = 1` is the
//! identity grid), warps the source with trilinear sampling and is trained with Adam on the
//! mean squared error to the target. It prints the falling loss.
//!
//! Run: `cargo run --release --example demo`

use voxflow::nn::{Adam, AdamConfig};
use voxflow::nn::{Conv3d, Conv3dConfig, ConvBlock, Init, NormKind, ParamStore, Params};
use voxflow::ops::{LossKind, Padding};
use voxflow::{Device, Result, Rng, Tape, Tensor, ops};

const SIZE: usize = 16;

fn blob(centre: [f32; 3]) -> Result<Tensor> {
    let mut v = Vec::with_capacity(SIZE.pow(3));
    for z in 0..SIZE {
        for y in 0..SIZE {
            for x in 0..SIZE {
                let d2 = [z, y, x]
                    .iter()
                    .zip(centre)
                    .map(|(&p, c)| (p as f32 - c).powi(2))
                    .sum::<f32>();
                v.push((-d2 / 12.0).exp());
            }
        }
    }
    Tensor::from_vec(v, [1, SIZE, SIZE, SIZE, 1], Device::Cpu)
}

struct Net {
    blocks: Vec<ConvBlock>,
    head: Conv3d,
}

impl Net {
    fn new(store: &mut ParamStore, rng: &mut Rng) -> Result<Self> {
        let d = Device::Cpu;
        let he = |c: Conv3dConfig| c.init(Init::HeNormal);
        let blocks = vec![
            ConvBlock::new(
                store,
                rng,
                "b1",
                he(Conv3dConfig::new(2, 8)),
                NormKind::None,
                d,
            )?,
            ConvBlock::new(
                store,
                rng,
                "b2",
                he(Conv3dConfig::new(8, 8).dilation(2)),
                NormKind::None,
                d,
            )?,
            ConvBlock::new(
                store,
                rng,
                "b3",
                he(Conv3dConfig::new(8, 8).dilation(4)),
                NormKind::None,
                d,
            )?,
        ];
        let head = Conv3d::new(store, rng, "gradient_flow", Conv3dConfig::new(8, 3), d)?;
        Ok(Net { blocks, head })
    }

    fn warp(&self, p: &Params, src: &Tensor, tgt: &Tensor) -> Result<Tensor> {
        let mut h = ops::concat_channels(&[src, tgt])?;
        for b in &self.blocks {
            h = b.forward(p, &h)?;
        }
        let phi = ops::affine(&ops::sigmoid(&self.head.forward(p, &h)?)?, 2.0, 0.0)?;
        let grid = ops::warp::integrate_gradient(&phi)?;
        ops::grid_sample(src, &grid, Padding::Border)
    }
}

fn main() -> Result<()> {
    let c = SIZE as f32 / 2.0;
    let src = blob([c, c, c])?;
    let tgt = blob([c + 1.5, c - 2.0, c + 2.5])?;
    let mut store = ParamStore::new();
    let mut rng = Rng::new(7);
    let net = Net::new(&mut store, &mut rng)?;
    let mut adam = Adam::new(AdamConfig {
        lr: 1e-2,
        ..AdamConfig::default()
    });
    let (trainable, _) = store.count();
    println!("demo: aligning two {SIZE}³ blobs with a {trainable}-parameter network");
    let first = ops::loss(LossKind::Mse, &src, &tgt)?.to_scalar()?;
    println!("mse before training (identity warp): {first:.6}");
    for step in 1..=80 {
        let tape = Tape::new();
        let p = store.bind(&tape, true);
        let warped = net.warp(&p, &src, &tgt)?;
        let loss = ops::loss(LossKind::Mse, &warped, &tgt)?;
        let value = loss.to_scalar()?;
        let mut grads = tape.backward(&loss)?;
        let named = p.grads(&mut grads);
        adam.step(&mut store, &named)?;
        if step % 10 == 0 || step == 1 {
            println!("step {step:3}  mse {value:.6}");
        }
    }
    let p = store.frozen(false);
    let last = ops::loss(LossKind::Mse, &net.warp(&p, &src, &tgt)?, &tgt)?.to_scalar()?;
    println!(
        "mse after training: {last:.6} ({:.0}% of the start)",
        100.0 * last / first
    );
    Ok(())
}
