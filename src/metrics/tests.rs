//! Metric tests: hand-made cases with known answers, a brute-force surface distance, and the
//! scipy/numpy fixture `tests/fixtures/eval_metrics.txt`.

use super::*;
use std::collections::HashMap;

/// A `[D, H, W]` mask from a predicate on (x, y, z).
fn mask(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> bool) -> Vec<bool> {
    let [d, h, w] = dims;
    (0..d * h * w)
        .map(|i| f(i % w, i / w % h, i / (w * h)))
        .collect()
}

fn sphere(dims: [usize; 3], c: [f64; 3], r: f64) -> Vec<bool> {
    mask(dims, |x, y, z| {
        (x as f64 - c[0]).powi(2) + (y as f64 - c[1]).powi(2) + (z as f64 - c[2]).powi(2) <= r * r
    })
}

/// Surface distances by their definition: every pair of surface voxels.
fn brute_surface_distances(a: &[bool], b: &[bool], dims: [usize; 3], s: [f64; 3]) -> Vec<f64> {
    let [_, h, w] = dims;
    let pos = |i: usize| {
        [
            (i % w) as f64 * s[0],
            (i / w % h) as f64 * s[1],
            (i / (w * h)) as f64 * s[2],
        ]
    };
    let pts = |m: &[bool]| -> Vec<[f64; 3]> {
        surface(m, dims)
            .iter()
            .enumerate()
            .filter(|(_, v)| **v)
            .map(|(i, _)| pos(i))
            .collect()
    };
    let (pa, pb) = (pts(a), pts(b));
    let nearest = |p: &[f64; 3], set: &[[f64; 3]]| {
        set.iter()
            .map(|q| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt())
            .fold(f64::INFINITY, f64::min)
    };
    let mut all: Vec<f64> = pa.iter().map(|p| nearest(p, &pb)).collect();
    all.extend(pb.iter().map(|p| nearest(p, &pa)));
    all.sort_by(f64::total_cmp);
    all
}

#[test]
fn dice_of_known_masks_and_boxes() {
    assert_eq!(dice(&[1.0, 1.0, 0.0, 0.0], &[1.0, 0.0, 1.0, 0.0]), 0.5);
    assert_eq!(dice(&[0.0; 4], &[0.0; 4]), 1.0);
    assert_eq!(dice(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
    // Binarized at 0.5: 0.5 itself is outside.
    assert_eq!(dice(&[0.5, 0.51], &[1.0, 1.0]), 2.0 / 3.0);
    // Two 8³ boxes shifted by 3 along x overlap in 5·8·8 voxels.
    let dims = [12, 12, 16];
    let a = mask(dims, |x, y, z| {
        (2..10).contains(&x) && (2..10).contains(&y) && (2..10).contains(&z)
    });
    let b = mask(dims, |x, y, z| {
        (5..13).contains(&x) && (2..10).contains(&y) && (2..10).contains(&z)
    });
    assert_eq!(dice_bool(&a, &b), 2.0 * 320.0 / 1024.0);
}

#[test]
fn per_label_dice_and_labels() {
    let a = [0.0, 3.0, 3.0, 4.0, 4.0, 5.0];
    let b = [0.0, 3.0, 4.0, 4.0, 4.0, 0.0];
    assert_eq!(labels(&[&a, &b]), vec![3.0, 4.0, 5.0]);
    let d = dice_per_label(&a, &b, &[3.0, 4.0, 5.0, 7.0]);
    // 3: |A|=2 |B|=1 ∩=1; 4: |A|=2 |B|=3 ∩=2; 5: |A|=1 |B|=0; 7: absent from both.
    assert_eq!(d, vec![2.0 / 3.0, 0.8, 0.0, 1.0]);
    assert_eq!(indicator(&a, 4.0), vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
}

#[test]
fn surface_is_six_connected_and_the_volume_border_is_outside() {
    let dims = [5, 5, 5];
    let full = vec![true; 125];
    let s = surface(&full, dims);
    // Every voxel but the 3³ interior.
    assert_eq!(s.iter().filter(|v| **v).count(), 125 - 27);
    // A 3³ cube in the middle: all but its centre; the centre's 6 neighbours are inside.
    let cube = mask(dims, |x, y, z| {
        (1..4).contains(&x) && (1..4).contains(&y) && (1..4).contains(&z)
    });
    let s = surface(&cube, dims);
    assert_eq!(s.iter().filter(|v| **v).count(), 26);
    assert!(!s[(2 * 5 + 2) * 5 + 2]);
}

#[test]
fn shifted_boxes_have_the_hausdorff_distance_of_the_shift() {
    // Two 8³ boxes, b = a shifted by 3 voxels along x; spacing (1.5, 0.8, 1.2). The farthest
    // surface voxels are a's x = 2 face from b's x = 5 face: 3·1.5 mm (the y and z faces of b
    // are farther, and every other surface voxel has a nearer one).
    let dims = [12, 12, 16];
    let s = [1.5, 0.8, 1.2];
    let a = mask(dims, |x, y, z| {
        (2..10).contains(&x) && (2..10).contains(&y) && (2..10).contains(&z)
    });
    let b = mask(dims, |x, y, z| {
        (5..13).contains(&x) && (2..10).contains(&y) && (2..10).contains(&z)
    });
    let d = surface_distances(&a, &b, dims, s);
    assert!((d.hausdorff - 4.5).abs() < 1e-12, "{d:?}");
    let brute = brute_surface_distances(&a, &b, dims, s);
    assert!((d.hd95 - percentile(&brute, 95.0)).abs() < 1e-12, "{d:?}");
    let mean = brute.iter().sum::<f64>() / brute.len() as f64;
    assert!((d.msd - mean).abs() < 1e-12, "{d:?} vs {mean}");
    assert!(d.msd > 0.0 && d.msd < d.hd95 && d.hd95 <= d.hausdorff);
}

#[test]
fn shifted_spheres_match_the_definition_and_the_shift() {
    let dims = [20, 21, 26];
    let a = sphere(dims, [10.0, 10.0, 10.0], 6.0);
    let b = sphere(dims, [14.0, 10.0, 10.0], 6.0);
    // Isotropic 1 mm: the spheres' x extremes are 4 voxels apart and nothing is farther.
    let d = surface_distances(&a, &b, dims, [1.0; 3]);
    assert!((d.hausdorff - 4.0).abs() < 1e-12, "{d:?}");
    for s in [[1.0; 3], [0.7, 1.3, 2.5]] {
        let d = surface_distances(&a, &b, dims, s);
        let brute = brute_surface_distances(&a, &b, dims, s);
        assert_eq!(d.hausdorff, *brute.last().unwrap());
        assert!((d.hd95 - percentile(&brute, 95.0)).abs() < 1e-12);
        let mean = brute.iter().sum::<f64>() / brute.len() as f64;
        assert!((d.msd - mean).abs() < 1e-12);
    }
    // Identical masks: all zero.
    let d = surface_distances(&a, &a, dims, [0.7, 1.3, 2.5]);
    assert_eq!((d.hausdorff, d.hd95, d.msd), (0.0, 0.0, 0.0));
}

#[test]
fn empty_masks_have_defined_finite_values() {
    let dims = [4, 5, 6];
    let s = [2.0, 1.0, 3.0];
    let empty = vec![false; 120];
    let one = mask(dims, |x, y, z| (x, y, z) == (1, 1, 1));
    let d = surface_distances(&empty, &empty, dims, s);
    assert_eq!((d.hausdorff, d.hd95, d.msd), (0.0, 0.0, 0.0));
    // One empty: the volume's diagonal, √((5·2)² + (4·1)² + (3·3)²).
    let diag = (100.0f64 + 16.0 + 81.0).sqrt();
    assert_eq!(diagonal_mm(dims, s), diag);
    for (a, b) in [(&empty, &one), (&one, &empty)] {
        let d = surface_distances(a, b, dims, s);
        assert_eq!((d.hausdorff, d.hd95, d.msd), (diag, diag, diag));
    }
    assert_eq!(dice_bool(&empty, &empty), 1.0);
    assert_eq!(dice_bool(&empty, &one), 0.0);
}

#[test]
fn intensity_metrics_on_known_images() {
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let b: Vec<f32> = a.iter().map(|v| 2.0 * v + 3.0).collect();
    assert!((pearson_r(&a, &b) - 1.0).abs() < 1e-15);
    let neg: Vec<f32> = a.iter().map(|v| -v).collect();
    assert!((pearson_r(&a, &neg) + 1.0).abs() < 1e-15);
    assert_eq!(pearson_r(&a, &[5.0; 4]), 0.0);
    assert_eq!(pearson_r(&[], &[]), 0.0);
    // (1,2,3,4) vs (1,3,2,4): r = 0.8.
    assert!((pearson_r(&a, &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-15);
    assert_eq!(mse(&a, &[1.0, 2.0, 5.0, 2.0]), 2.0);
    assert_eq!(mse(&[], &[]), 0.0);
}

#[test]
fn percentiles_interpolate_like_numpy() {
    let v = [1.0, 2.0, 3.0, 4.0];
    // numpy.percentile([1, 2, 3, 4], [0, 5, 50, 95, 100]).
    for (q, want) in [
        (0.0, 1.0),
        (5.0, 1.15),
        (50.0, 2.5),
        (95.0, 3.85),
        (100.0, 4.0),
    ] {
        assert!((percentile(&v, q) - want).abs() < 1e-12, "{q}");
    }
    assert_eq!(percentile(&[7.0], 95.0), 7.0);
    assert_eq!(percentile(&[], 95.0), 0.0);
}

/// Reads `tests/fixtures/<name>.txt` (the f64 format of `scripts/fixtures_metrics.py`).
fn load_f64_fixture(name: &str) -> HashMap<String, (Vec<usize>, Vec<f64>)> {
    let path = format!("{}/tests/fixtures/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut parts = line.split('\t');
        let (Some(key), Some(dims), Some(vals)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("{path}: malformed line {line:.60}");
        };
        let dims: Vec<usize> = dims
            .split(',')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().unwrap())
            .collect();
        let vals: Vec<f64> = vals
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(dims.iter().product::<usize>(), vals.len(), "{path}: {key}");
        out.insert(key.to_string(), (dims, vals));
    }
    out
}

// python3 scripts/fixtures_metrics.py (scipy.ndimage.distance_transform_edt, binary_erosion,
// numpy.percentile, numpy.gradient, numpy.corrcoef on 12×14×16 volumes, spacing (1.5, 0.8, 1.2)).
#[test]
fn metrics_match_scipy_and_numpy() {
    let fx = load_f64_fixture("eval_metrics");
    let arr = |k: &str| &fx.get(k).unwrap_or_else(|| panic!("fixture lacks {k}")).1;
    let scalar = |k: &str| arr(k)[0];
    let dims = {
        let d = &fx["mask_a"].0;
        [d[0], d[1], d[2]]
    };
    let s = arr("spacing_xyz");
    let spacing = [s[0], s[1], s[2]];
    let a: Vec<bool> = arr("mask_a").iter().map(|&v| v > 0.5).collect();
    let b: Vec<bool> = arr("mask_b").iter().map(|&v| v > 0.5).collect();
    let want_surface: Vec<bool> = arr("surface_a").iter().map(|&v| v > 0.5).collect();
    assert_eq!(surface(&a, dims), want_surface);
    let edt: Vec<f64> = squared_edt(&a, dims, spacing)
        .iter()
        .map(|v| v.sqrt())
        .collect();
    for (i, (g, w)) in edt.iter().zip(arr("edt_a")).enumerate() {
        assert!((g - w).abs() < 1e-12, "edt voxel {i}: {g} vs scipy {w}");
    }
    assert!((dice_bool(&a, &b) - scalar("dice")).abs() < 1e-15);
    let d = surface_distances(&a, &b, dims, spacing);
    for (name, got) in [("hausdorff", d.hausdorff), ("hd95", d.hd95), ("msd", d.msd)] {
        assert!(
            (got - scalar(name)).abs() < 1e-12,
            "{name}: {got} vs scipy {}",
            scalar(name)
        );
    }

    let grid: Vec<f32> = arr("grid").iter().map(|&v| v as f32).collect();
    let dets = jacobian_determinants(&grid, dims);
    for (i, (g, w)) in dets.iter().zip(arr("det")).enumerate() {
        assert!(
            (g - w).abs() < 1e-9 * w.abs().max(1.0),
            "det voxel {i}: {g} vs numpy {w}"
        );
    }
    assert!(scalar("folding_pct") > 0.5);
    assert!((folding_pct(&dets) - scalar("folding_pct")).abs() < 1e-12);
    assert!((sdlogj(&dets) - scalar("sdlogj")).abs() < 1e-9);

    let img = |k: &str| -> Vec<f32> { arr(k).iter().map(|&v| v as f32).collect() };
    let (w, t) = (img("img_w"), img("img_t"));
    assert!((mse(&w, &t) - scalar("mse")).abs() < 1e-12);
    assert!((pearson_r(&w, &t) - scalar("pearson_r")).abs() < 1e-12);
}
