//! Landmark error (TRE, SPEC section 12): for corresponding points `x_f` of the fixed scan and
//! `x_m` of the moving scan, `|x_f + u(x_f) − x_m|` in mm, where `u` is the registration's
//! displacement (fixed → moving, world mm).

use super::percentile;

/// Summary of a pair's landmark errors in mm.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct TreStats {
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub p90: f64,
    pub max: f64,
}

impl TreStats {
    /// The statistics of `errors` (all zeros for none).
    pub fn of(errors: &[f64]) -> TreStats {
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        TreStats {
            n,
            mean: if n == 0 {
                0.0
            } else {
                sorted.iter().sum::<f64>() / n as f64
            },
            median: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            max: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// The error of each landmark: `|mapped[i] − moving[i]|`, with `mapped[i]` the fixed scan's
/// landmark `i` carried by the registration (`x_f + u(x_f)`; the fixed landmarks themselves
/// for no registration).
pub fn landmark_errors(mapped: &[[f64; 3]], moving: &[[f64; 3]]) -> Vec<f64> {
    mapped
        .iter()
        .zip(moving)
        .map(|(a, b)| {
            let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
            (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_their_statistics() {
        let fixed = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [5.0, 0.0, 0.0]];
        let moving = [[3.0, 4.0, 0.0], [1.0, 1.0, 1.0], [5.0, 0.0, 2.0]];
        let e = landmark_errors(&fixed, &moving);
        assert_eq!(e, vec![5.0, 0.0, 2.0]);
        let s = TreStats::of(&e);
        assert_eq!((s.n, s.max, s.median), (3, 5.0, 2.0));
        assert!((s.mean - 7.0 / 3.0).abs() < 1e-12);
        assert!(
            (s.p90 - 4.4).abs() < 1e-12,
            "numpy: 2 + 0.8·3 = 4.4, got {}",
            s.p90
        );
        assert_eq!(TreStats::of(&[]).mean, 0.0);
    }
}
