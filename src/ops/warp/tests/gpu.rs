//! The warp kernels on the emulator (and GPU 0 when present) against the CPU backend, at the
//! Backend level: odd geometries, both paddings, coordinates outside the volume, several
//! samples and channels; and bitwise determinism of the fixed-point image-gradient scatter.

use crate::backend::{Backend, Padding, SampleGeom, VolGeom, backend};
use crate::ops::testing::assert_close;
use crate::tensor::{Device, Rng};

fn kernel_devices() -> Vec<Device> {
    let mut v = vec![Device::Emu];
    if backend(Device::Cuda(0)).is_ok() {
        v.push(Device::Cuda(0));
    }
    v
}

fn random(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| (lo + (hi - lo) * r.uniform()) as f32)
        .collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn cumsum_equals_the_cpu_bitwise_on_every_axis() {
    let cpu = backend(Device::Cpu).unwrap();
    let g = VolGeom {
        n: 2,
        dims: [5, 4, 7],
        c: 3,
    };
    let x = random(g.len(), -1.0, 1.0, 1);
    for dev in kernel_devices() {
        let be = backend(dev).unwrap();
        for axis in 0..3 {
            for reverse in [false, true] {
                let want = cpu
                    .download(
                        &cpu.cumsum(&cpu.upload(&x).unwrap(), g, axis, reverse)
                            .unwrap(),
                    )
                    .unwrap();
                let got = be
                    .download(
                        &be.cumsum(&be.upload(&x).unwrap(), g, axis, reverse)
                            .unwrap(),
                    )
                    .unwrap();
                assert_eq!(got, want, "{dev} axis {axis} reverse {reverse}");
            }
        }
    }
}

#[test]
fn affine_grid_and_its_gradient_match_the_cpu() {
    let cpu = backend(Device::Cpu).unwrap();
    // 5·9·100 points per sample: more than one 4096-point partial.
    let g = VolGeom {
        n: 2,
        dims: [5, 9, 100],
        c: 3,
    };
    let grid = random(g.len(), -3.0, 90.0, 2);
    let theta = random(24, -1.5, 1.5, 3);
    let dy = random(g.len(), -1.0, 1.0, 4);
    let centre = [49.5, 4.0, 2.0];
    let up = |b: &dyn Backend, v: &[f32]| b.upload(v).unwrap();
    let (wg, wt) = cpu
        .affine_grid_bwd(&up(cpu, &grid), &up(cpu, &theta), &up(cpu, &dy), centre, g)
        .unwrap();
    let want_y = cpu
        .download(
            &cpu.affine_grid(&up(cpu, &grid), &up(cpu, &theta), centre, g)
                .unwrap(),
        )
        .unwrap();
    for dev in kernel_devices() {
        let be = backend(dev).unwrap();
        let y = be
            .download(
                &be.affine_grid(&up(be, &grid), &up(be, &theta), centre, g)
                    .unwrap(),
            )
            .unwrap();
        assert_close(&format!("{dev} affine_grid"), &y, &f64s(&want_y), 1e-6);
        let (dg, dt) = be
            .affine_grid_bwd(&up(be, &grid), &up(be, &theta), &up(be, &dy), centre, g)
            .unwrap();
        let want_dg = f64s(&cpu.download(&wg).unwrap());
        let want_dt = f64s(&cpu.download(&wt).unwrap());
        assert_close(
            &format!("{dev} dgrid"),
            &be.download(&dg).unwrap(),
            &want_dg,
            1e-6,
        );
        assert_close(
            &format!("{dev} dtheta"),
            &be.download(&dt).unwrap(),
            &want_dt,
            1e-6,
        );
    }
}

/// Coordinates spread over and beyond a volume (so both paddings clamp or read zeros), with
/// many output voxels landing on the same few image voxels.
fn coords_for(g: &SampleGeom, seed: u64) -> Vec<f32> {
    let vout = g.out_dims.iter().product::<usize>();
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(g.n * vout * 3);
    for _ in 0..g.n * vout {
        for axis in 0..3 {
            let size = g.in_dims[2 - axis] as f64;
            let x = if r.uniform() < 0.3 {
                // A crowd near one voxel: many contributions to the same image values.
                1.0 + 0.5 * r.uniform()
            } else {
                -2.5 + (size + 4.0) * r.uniform()
            };
            v.push(x as f32);
        }
    }
    v
}

#[test]
fn sampling_and_its_gradients_match_the_cpu() {
    let cpu = backend(Device::Cpu).unwrap();
    for (n, in_dims, out_dims, c) in [
        (1, [4, 5, 6], [3, 7, 5], 1),
        (2, [5, 3, 4], [6, 5, 4], 3),
        (1, [1, 6, 5], [2, 3, 9], 2),
    ] {
        for padding in [Padding::Border, Padding::Zeros] {
            let g = SampleGeom {
                n,
                in_dims,
                out_dims,
                c,
                padding,
            };
            let vin = n * in_dims.iter().product::<usize>() * c;
            let vout = n * out_dims.iter().product::<usize>();
            let img = random(vin, -1.0, 1.0, 5);
            let coords = coords_for(&g, 6);
            let dy = random(vout * c, -1.0, 1.0, 7);
            let up = |b: &dyn Backend, v: &[f32]| b.upload(v).unwrap();
            let want = cpu
                .download(
                    &cpu.grid_sample(&up(cpu, &img), &up(cpu, &coords), g)
                        .unwrap(),
                )
                .unwrap();
            let (wi, wc) = cpu
                .grid_sample_bwd(&up(cpu, &img), &up(cpu, &coords), &up(cpu, &dy), g)
                .unwrap();
            let (wi, wc) = (cpu.download(&wi).unwrap(), cpu.download(&wc).unwrap());
            for dev in kernel_devices() {
                let be = backend(dev).unwrap();
                let what = format!("{dev} {g:?}");
                let y = be
                    .download(&be.grid_sample(&up(be, &img), &up(be, &coords), g).unwrap())
                    .unwrap();
                assert_close(&format!("{what} forward"), &y, &f64s(&want), 1e-6);
                let bwd = || {
                    let (di, dc) = be
                        .grid_sample_bwd(&up(be, &img), &up(be, &coords), &up(be, &dy), g)
                        .unwrap();
                    (be.download(&di).unwrap(), be.download(&dc).unwrap())
                };
                let (di, dc) = bwd();
                assert_close(&format!("{what} dimg"), &di, &f64s(&wi), 1e-6);
                assert_close(&format!("{what} dcoords"), &dc, &f64s(&wc), 1e-5);
                // The scatter's integer accumulation gives the same bits every time.
                let (di2, _) = bwd();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&di), bits(&di2), "{what}: dimg not reproducible");
            }
        }
    }
}

#[test]
fn image_gradient_of_a_zero_gradient_is_zero() {
    let g = SampleGeom {
        n: 1,
        in_dims: [3, 3, 3],
        out_dims: [3, 3, 3],
        c: 1,
        padding: Padding::Border,
    };
    for dev in kernel_devices() {
        let be = backend(dev).unwrap();
        let img = be.upload(&random(27, -1.0, 1.0, 8)).unwrap();
        let coords = be.upload(&coords_for(&g, 9)).unwrap();
        let dy = be.upload(&[0.0; 27]).unwrap();
        let (di, dc) = be.grid_sample_bwd(&img, &coords, &dy, g).unwrap();
        assert!(be.download(&di).unwrap().iter().all(|&v| v == 0.0), "{dev}");
        assert!(be.download(&dc).unwrap().iter().all(|&v| v == 0.0), "{dev}");
    }
}
