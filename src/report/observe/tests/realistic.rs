//! A realistic pair rendered through the engine's own transformer.

use super::*;
use crate::testutil::TempDir;

/// A realistic pair through the engine's own transformer: an ellipsoid and its copy shifted
/// 3 voxels along x, and a smooth gradient (compression before the blob, expansion after)
/// whose integrated grid moves the blob most of the way. Set `VOXFLOW_OBSERVE_OUT` to keep
/// the PNGs for looking at.
#[test]
fn renders_a_realistic_pair_through_the_transformer() {
    use crate::ops::Padding;
    use crate::ops::warp::integrate_gradient;
    use crate::ops::{affine, grid_sample, sigmoid};
    use crate::tensor::{Device, Tensor};

    let dims = [24, 32, 40];
    let [d, h, w] = dims;
    let (cx, cy, cz) = (20.0, 16.0, 12.0);
    let ellipsoid = |shift: f32| {
        move |x: f32, y: f32, z: f32| {
            let r = ((x - cx - shift) / 9.0).powi(2)
                + ((y - cy) / 8.0).powi(2)
                + ((z - cz) / 8.0).powi(2);
            // Soft-edged body with some texture inside, on a faint background ramp.
            let body = 1.0 / (1.0 + ((r - 1.0) * 8.0).exp());
            body * (0.7 + 0.3 * ((x - shift) * 0.9).sin() * (y * 0.7).cos()) + 0.05 * y / h as f32
        }
    };
    let src = volume(dims, ellipsoid(-1.5));
    let tgt = volume(dims, ellipsoid(1.5));
    let mask = volume(dims, |x, y, z| {
        let r =
            ((x - cx + 1.5) / 9.0).powi(2) + ((y - cy) / 8.0).powi(2) + ((z - cz) / 8.0).powi(2);
        if r <= 1.0 { 1.0 } else { 0.0 }
    });
    // Φx − 1 = −A(y, z)·3·(g(x − 6) − g(x − 34)), g a unit-area Gaussian of σ 2.5: the
    // displacement is −3A between the bumps. Φy gets a gentle wave; Φz stays 1.
    let g = |t: f32| (-t * t / 12.5).exp() / (2.5 * (2.0 * std::f32::consts::PI).sqrt());
    let logit = |p: f32| (p / (1.0 - p)).ln();
    let pre = grid_from(dims, |x, y, z| {
        let a = (-((y - cy).powi(2) + (z - cz).powi(2)) / 288.0).exp();
        let phi_x = 1.0 - a * 3.0 * (g(x - 6.0) - g(x - 34.0));
        let phi_y = 1.0 + 0.05 * (x * 0.3).sin();
        [logit(phi_x / 2.0), logit(phi_y / 2.0), 0.0]
    });
    let t = |v: Vec<f32>, c: usize| Tensor::from_vec(v, [1, d, h, w, c], Device::Cpu).unwrap();
    let gradient = sigmoid(&t(pre, 3)).unwrap();
    let grid = integrate_gradient(&affine(&gradient, 2.0, 0.0).unwrap()).unwrap();
    let warp = |v: &[f32]| {
        let out = grid_sample(&t(v.to_vec(), 1), &grid, Padding::Border).unwrap();
        out.to_vec().unwrap()
    };
    let (warped, warped_seg) = (warp(&src), warp(&mask));
    let (gradient, grid) = (gradient.to_vec().unwrap(), grid.to_vec().unwrap());
    assert!(
        mse(&warped, &tgt) < 0.5 * mse(&src, &tgt),
        "the test pair registers"
    );
    let obs = Observation {
        dims,
        src: &src,
        tgt: &tgt,
        warped: &warped,
        gradient: &gradient,
        grid: &grid,
        warped_seg: Some(&warped_seg),
    };
    let keep = std::env::var_os("VOXFLOW_OBSERVE_OUT").map(PathBuf::from);
    let tmp = TempDir::absent("realistic");
    let dir = keep.clone().unwrap_or_else(|| tmp.0.clone());
    let overview = write_observations(&dir, 5, &obs).unwrap();
    // det J ≈ Φx·Φy ∈ [0.5, 1.6]: compression and expansion, no folding.
    let dets = jacobian_determinants(&grid, dims);
    assert_eq!(folding_pct(&dets), 0.0);
    assert!(dets.iter().any(|&j| j < 0.7) && dets.iter().any(|&j| j > 1.3));
    assert!(overview.width() > 600);
    let (w_png, _, _) = decode(&dir.join("overview_05.png"));
    assert_eq!(w_png, overview.width());
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
