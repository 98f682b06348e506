//! Inputs shared by the benches.

use voxflow::tensor::Rng;

/// Identity coordinates of an `s³` volume plus a smooth displacement of up to 3 voxels (the
/// kind of field a registration produces), as `[s, s, s, 3]` (x, y, z).
pub fn smooth_coords(s: usize, rng: &mut Rng) -> Vec<f32> {
    let tau = std::f64::consts::TAU / s as f64;
    let ph: Vec<f64> = (0..6)
        .map(|_| rng.uniform() * std::f64::consts::TAU)
        .collect();
    let mut v = Vec::with_capacity(s * s * s * 3);
    for z in 0..s {
        for y in 0..s {
            for x in 0..s {
                let (xf, yf, zf) = (x as f64, y as f64, z as f64);
                v.push((xf + 3.0 * (tau * yf + ph[0]).sin() * (tau * zf + ph[1]).cos()) as f32);
                v.push((yf + 3.0 * (tau * zf + ph[2]).sin() * (tau * xf + ph[3]).cos()) as f32);
                v.push((zf + 3.0 * (tau * xf + ph[4]).sin() * (tau * yf + ph[5]).cos()) as f32);
            }
        }
    }
    v
}
