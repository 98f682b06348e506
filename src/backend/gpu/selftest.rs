//! Tests of the kernel execution model (`kernels/selftest.cu`) on every kernel-running device:
//! barriers with shared memory, warp shuffles and ballots, integer atomics, dynamic shared
//! memory; and, on the emulator, that a divergent barrier and an out-of-bounds shared-memory
//! index are reported as errors rather than hanging or corrupting memory.

use super::{KernelSig, Param::*};

const FAMILY: &str = "selftest";
pub(crate) const BLOCK_REVERSE: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_selftest_block_reverse",
    params: &[PtrF32, PtrF32],
};
pub(crate) const WARP: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_selftest_warp",
    params: &[PtrF32, PtrF32],
};
pub(crate) const HISTOGRAM: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_selftest_histogram",
    params: &[PtrI32, PtrI32, I32],
};
pub(crate) const DYNAMIC_SUM: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_selftest_dynamic_sum",
    params: &[PtrF32, PtrF32],
};
pub(crate) const DIVERGENT: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_selftest_divergent",
    params: &[PtrF32, I32],
};
pub(crate) const SHARED_OOB: KernelSig = KernelSig {
    family: FAMILY,
    name: "vf_selftest_shared_oob",
    params: &[PtrF32, I32],
};

/// The self-test kernels, for the launch table.
pub(crate) static KERNELS: &[&KernelSig] = &[
    &BLOCK_REVERSE,
    &WARP,
    &HISTOGRAM,
    &DYNAMIC_SUM,
    &DIVERGENT,
    &SHARED_OOB,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::emu::EmuRuntime;
    use crate::backend::gpu::{Arg, LaunchCfg, Runtime};
    use crate::tensor::Rng;

    /// The runtimes to test: the emulator, and GPU 0 when one is usable.
    fn runtimes() -> Vec<&'static dyn Runtime> {
        let mut v: Vec<&'static dyn Runtime> = vec![&EmuRuntime];
        match crate::backend::cuda::runtime(0) {
            Ok(rt) => v.push(rt),
            Err(why) => eprintln!("selftest: skipping cuda:0 ({why})"),
        }
        v
    }

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| (r.uniform() * 2.0 - 1.0) as f32).collect()
    }

    #[test]
    fn block_barrier_and_shared_memory() {
        for rt in runtimes() {
            for block in [1u32, 37, 256, 1024] {
                let x = random(3 * block as usize, 7);
                let xb = rt.upload(&x).unwrap();
                let y = rt.alloc(x.len()).unwrap();
                rt.launch(
                    &BLOCK_REVERSE,
                    LaunchCfg::new([3, 1, 1], [block, 1, 1], 0),
                    &[Arg::Buf(&y), Arg::Buf(&xb)],
                )
                .unwrap();
                let y = rt.download(&y).unwrap();
                let b = block as usize;
                for blk in 0..3 {
                    for t in 0..b {
                        assert_eq!(y[blk * b + t], x[blk * b + b - 1 - t], "{}", rt.device());
                    }
                }
            }
        }
    }

    #[test]
    fn warp_shuffles_and_ballot() {
        for rt in runtimes() {
            let x = random(128, 9);
            let xb = rt.upload(&x).unwrap();
            let y = rt.alloc(16).unwrap();
            rt.launch(
                &WARP,
                LaunchCfg::new([1, 1, 1], [128, 1, 1], 0),
                &[Arg::Buf(&y), Arg::Buf(&xb)],
            )
            .unwrap();
            let y = rt.download(&y).unwrap();
            for w in 0..4 {
                let lanes = &x[w * 32..w * 32 + 32];
                let sum: f64 = lanes.iter().map(|&v| v as f64).sum();
                assert!(
                    (y[w * 4] as f64 - sum).abs() < 1e-5,
                    "{}: shfl_down sum",
                    rt.device()
                );
                assert!(
                    (y[w * 4 + 3] as f64 - sum).abs() < 1e-5,
                    "{}: shfl_xor sum",
                    rt.device()
                );
                assert_eq!(y[w * 4 + 1], lanes[5], "{}: shfl_sync", rt.device());
                let pos = lanes.iter().filter(|&&v| v > 0.0).count();
                assert_eq!(y[w * 4 + 2], pos as f32, "{}: ballot", rt.device());
            }
        }
    }

    #[test]
    fn integer_atomics_count_every_update() {
        for rt in runtimes() {
            let n = 5000;
            let bins: Vec<i32> = (0..n).map(|i| ((i * 7919) % 13) as i32).collect();
            let xb = rt
                .upload(
                    &bins
                        .iter()
                        .map(|&b| f32::from_bits(b as u32))
                        .collect::<Vec<_>>(),
                )
                .unwrap();
            let counts = rt.upload(&[0.0; 13]).unwrap();
            rt.launch(
                &HISTOGRAM,
                LaunchCfg::linear(n, 128),
                &[Arg::Buf(&counts), Arg::Buf(&xb), Arg::I32(n as i32)],
            )
            .unwrap();
            let got: Vec<u32> = rt
                .download(&counts)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect();
            for (b, &c) in got.iter().enumerate() {
                let want = bins.iter().filter(|&&v| v == b as i32).count() as u32;
                assert_eq!(c, want, "{}: bin {b}", rt.device());
            }
        }
    }

    #[test]
    fn dynamic_shared_memory() {
        for rt in runtimes() {
            let x = random(4 * 64, 11);
            let xb = rt.upload(&x).unwrap();
            let y = rt.alloc(4).unwrap();
            rt.launch(
                &DYNAMIC_SUM,
                LaunchCfg::new([4, 1, 1], [64, 1, 1], 64 * 4),
                &[Arg::Buf(&y), Arg::Buf(&xb)],
            )
            .unwrap();
            let y = rt.download(&y).unwrap();
            for b in 0..4 {
                let want: f64 = x[b * 64..b * 64 + 64].iter().map(|&v| v as f64).sum();
                assert!(
                    (y[b] as f64 - want).abs() < 1e-5,
                    "{}: block {b}",
                    rt.device()
                );
            }
        }
    }

    #[test]
    fn emulator_reports_divergent_barriers_and_recovers() {
        let rt = EmuRuntime;
        let y = rt.alloc(64).unwrap();
        let e = rt
            .launch(
                &DIVERGENT,
                LaunchCfg::new([2, 1, 1], [64, 1, 1], 0),
                &[Arg::Buf(&y), Arg::I32(10)],
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("barrier divergence") && e.contains("block (0,0,0)"),
            "{e}"
        );
        // Every thread reaching the barrier is fine, and the scheduler works after the error.
        rt.launch(
            &DIVERGENT,
            LaunchCfg::new([1, 1, 1], [64, 1, 1], 0),
            &[Arg::Buf(&y), Arg::I32(64)],
        )
        .unwrap();
        assert_eq!(rt.download(&y).unwrap()[63], 63.0);
    }

    #[test]
    fn emulator_reports_shared_memory_out_of_bounds() {
        let rt = EmuRuntime;
        let y = rt.alloc(64).unwrap();
        let e = rt
            .launch(
                &SHARED_OOB,
                LaunchCfg::new([1, 1, 1], [64, 1, 1], 0),
                &[Arg::Buf(&y), Arg::I32(64)],
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("index 64 out of bounds [0, 64)") && e.contains("`s`"),
            "{e}"
        );
        rt.launch(
            &SHARED_OOB,
            LaunchCfg::new([1, 1, 1], [64, 1, 1], 0),
            &[Arg::Buf(&y), Arg::I32(3)],
        )
        .unwrap();
        assert_eq!(rt.download(&y).unwrap()[3], 1.0);
    }

    #[test]
    fn launches_with_wrong_arguments_are_refused() {
        let rt = EmuRuntime;
        let y = rt.alloc(64).unwrap();
        let e = rt
            .launch(
                &DIVERGENT,
                LaunchCfg::linear(64, 64),
                &[Arg::I32(1), Arg::Buf(&y)],
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("argument 0"), "{e}");
        let e = rt
            .launch(&DIVERGENT, LaunchCfg::linear(64, 64), &[Arg::Buf(&y)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 arguments for 2 parameters"), "{e}");
        let e = rt
            .launch(
                &DIVERGENT,
                LaunchCfg::new([1, 1, 1], [2048, 1, 1], 0),
                &[Arg::Buf(&y), Arg::I32(0)],
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("2048"), "{e}");
    }

    #[test]
    fn concurrent_launches_do_not_share_state() {
        std::thread::scope(|s| {
            for seed in 0..4u64 {
                s.spawn(move || {
                    let rt = EmuRuntime;
                    for round in 0..20 {
                        let x = random(256, seed * 100 + round);
                        let xb = rt.upload(&x).unwrap();
                        let y = rt.alloc(256).unwrap();
                        rt.launch(
                            &BLOCK_REVERSE,
                            LaunchCfg::new([1, 1, 1], [256, 1, 1], 0),
                            &[Arg::Buf(&y), Arg::Buf(&xb)],
                        )
                        .unwrap();
                        let y = rt.download(&y).unwrap();
                        assert!((0..256).all(|t| y[t] == x[255 - t]));
                    }
                });
            }
        });
    }
}
