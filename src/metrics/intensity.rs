//! Intensity agreement of a warped image with its target: mean squared error and Pearson's
//! correlation coefficient `r` (reported as `ncc`, and squared as `cross_correlation`, the
//! value the original system reported under that name). Sums run in `f64`.

/// Mean of `(a − b)²` over the common length; 0 for empty input.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    sum / n.max(1) as f64
}

/// Pearson's correlation coefficient of `a` and `b` (global normalized cross-correlation),
/// computed in two passes (means first) for accuracy. When either image is constant the
/// correlation is undefined; it is reported as 0 (no linear relation), never NaN.
pub fn pearson_r(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mean = |v: &[f32]| v[..n].iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return 0.0;
    }
    (sab / (saa.sqrt() * sbb.sqrt())).clamp(-1.0, 1.0)
}
