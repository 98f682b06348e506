//! The overview figure: the Jacobian panel, the title, and the shared windows.

use super::*;

/// The number of fold-coloured pixels in each row's Jacobian panel of the overview, and the
/// colour at the centre of each.
fn jacobian_panels(pair: &Pair) -> [(usize, [u8; 3]); 3] {
    let fig = overview_figure(2, &pair.obs(false)).unwrap();
    let img = fig.render();
    let (w, h) = fig.size();
    assert_eq!((img.width(), img.height()), (w, h));
    let (pw, ph) = strip_panel_size(16, 16);
    [0, 1, 2].map(|row| {
        let (x0, y0) = fig.panel_origin(row, 4);
        let folds = (0..ph)
            .flat_map(|y| (0..pw).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get(x0 + x, y0 + y) == FOLD_COLOUR)
            .count();
        (folds, img.get(x0 + pw / 2, y0 + ph / 2))
    })
}

#[test]
fn jacobian_panel_marks_folds_only_where_the_grid_folds() {
    let dims = [16, 16, 16];
    let mut pair = Pair::simple(dims);
    let identity = jacobian_panels(&pair);
    for (folds, centre) in identity {
        assert_eq!(folds, 0);
        assert_eq!(centre, jacobian_colour(1.0));
    }
    // Mirror x over 5 <= x <= 11 (which holds the middle sagittal slice x = 8): det = -1.
    pair.grid = grid_from(dims, |x, y, z| {
        [
            if (5.0..=11.0).contains(&x) {
                16.0 - x
            } else {
                x
            },
            y,
            z,
        ]
    });
    let folded = jacobian_panels(&pair);
    for (folds, centre) in folded {
        assert!(folds > 100, "{folds} fold pixels");
        assert_eq!(centre, FOLD_COLOUR);
    }
    // No other panel uses the fold colour.
    let fig = overview_figure(2, &pair.obs(false)).unwrap();
    let img = fig.render();
    let (x4, _) = fig.panel_origin(0, 4);
    let elsewhere = (0..img.height())
        .flat_map(|y| (0..x4).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get(x, y) == FOLD_COLOUR)
        .count();
    assert_eq!(elsewhere, 0);
}

#[test]
fn title_reports_mse_and_folding() {
    assert_eq!(
        overview_title(3, 0.012345, 0.0, 0.5),
        "epoch 03  mse 0.0123  folding 0.00%  max|w-t| 0.50"
    );
    assert_eq!(
        overview_title(120, 2.5e-5, 12.5, 2e-4),
        "epoch 120  mse 2.50e-5  folding 12.50%  max|w-t| 2.0e-4"
    );
    assert!((mse(&[1.0, 2.0, 3.0], &[1.0, 0.0, 4.0]) - 5.0 / 3.0).abs() < 1e-12);
    // The diff panel's scale: the largest |warped - tgt| in the volume.
    let pair = Pair::simple([8, 10, 12]);
    let max = pair
        .warped
        .iter()
        .zip(&pair.tgt)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max > 0.1);
    assert_eq!(window(&[&pair.warped, &[-1.0, f32::NAN]]).0, -1.0);
}

#[test]
fn overview_shares_one_window_for_the_images_and_floors_the_difference() {
    let dims = [4, 4, 4];
    let mut pair = Pair::simple(dims);
    pair.src = vec![0.0; 64];
    pair.tgt = vec![1.0; 64];
    pair.warped = vec![1.0; 64];
    let fig = overview_figure(0, &pair.obs(false)).unwrap();
    let img = fig.render();
    let centre = |col: usize| {
        let (x0, y0) = fig.panel_origin(1, col);
        img.get(x0 + 60, y0 + 60)
    };
    // Constant src 0 is black and constant tgt/warped 1 white in the shared window (each
    // alone would be min-max scaled to mid-gray); a zero difference is the bottom of viridis.
    assert_eq!(centre(0), [0; 3]);
    assert_eq!(centre(1), [255; 3]);
    assert_eq!(centre(2), [255; 3]);
    assert_eq!(centre(3), Colormap::Viridis.rgb(0.0));
}
