use crate::report::{Colormap, FOLD_COLOUR, jacobian_colour, viridis};

/// Relative luminance (Rec. 709 weights on linearized sRGB).
fn luminance(c: [u8; 3]) -> f64 {
    let lin = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

#[test]
fn viridis_endpoints_and_clamping() {
    assert_eq!(viridis(0.0), [68, 1, 84]);
    assert_eq!(viridis(1.0), [253, 231, 37]);
    assert_eq!(viridis(0.5), [33, 145, 140]);
    assert_eq!(viridis(-3.0), viridis(0.0));
    assert_eq!(viridis(7.0), viridis(1.0));
    assert_eq!(viridis(f32::NAN), viridis(0.0));
    // Halfway between two control points.
    assert_eq!(viridis(0.05), [70, 19, 101]);
    assert_eq!(Colormap::Viridis.rgb(0.3), viridis(0.3));
    assert_eq!(Colormap::Gray.rgb(0.0), [0; 3]);
    assert_eq!(Colormap::Gray.rgb(1.0), [255; 3]);
    assert_eq!(Colormap::Gray.rgb(0.5), [128; 3]);
}

#[test]
fn viridis_luminance_rises_monotonically() {
    let lum: Vec<f64> = (0..=200)
        .map(|i| luminance(viridis(i as f32 / 200.0)))
        .collect();
    for i in 1..lum.len() {
        assert!(
            lum[i] >= lum[i - 1],
            "luminance falls at t = {}",
            i as f32 / 200.0
        );
    }
    // Over every tenth it rises strictly, from near black to near white.
    for i in (20..=200).step_by(20) {
        assert!(lum[i] > lum[i - 20]);
    }
    assert!(lum[0] < 0.02 && lum[200] > 0.75, "{} {}", lum[0], lum[200]);
}

#[test]
fn jacobian_map_marks_folding() {
    assert_eq!(jacobian_colour(1.0), [255, 255, 255]);
    assert_eq!(jacobian_colour(0.0), FOLD_COLOUR);
    assert_eq!(jacobian_colour(-2.0), FOLD_COLOUR);
    assert_eq!(jacobian_colour(f32::NAN), [0, 0, 0]);
    // Saturates at half and double, symmetric in log2.
    assert_eq!(jacobian_colour(0.5), jacobian_colour(0.01));
    assert_eq!(jacobian_colour(2.0), jacobian_colour(50.0));
    assert_ne!(jacobian_colour(0.5), jacobian_colour(2.0));
    // Compression is blue, expansion green, neither red.
    let [r, g, b] = jacobian_colour(0.7);
    assert!(b > r && b > g, "{:?}", [r, g, b]);
    let [r, g, b] = jacobian_colour(1.5);
    assert!(g > r && g > b, "{:?}", [r, g, b]);
    // No positive determinant is drawn in the folding colour.
    for i in 1..=400 {
        assert_ne!(jacobian_colour(i as f32 / 100.0), FOLD_COLOUR);
    }
    // Farther from 1 (by ratio) is farther from white.
    let dist = |j: f32| {
        jacobian_colour(j)
            .iter()
            .map(|&c| 255 - u32::from(c))
            .sum::<u32>()
    };
    assert!(dist(0.6) > dist(0.8) && dist(0.8) > dist(0.95));
    assert!(dist(1.8) > dist(1.3) && dist(1.3) > dist(1.05));
}
