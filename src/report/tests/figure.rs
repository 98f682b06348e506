use super::decode;
use crate::report::figure::{
    BACKGROUND, FIG_TITLE_H, GAP, MARGIN, PANEL_BACKGROUND, PANEL_TITLE_H, TEXT, fit_nearest,
};
use crate::report::font::draw_text;
use crate::report::{
    Figure, Raster, ReportError, Rgb, Shade, jacobian_colour, middle_slices, save_png, slice_strip,
    strip_panel_size,
};
use crate::testutil::TempDir;

const RED: [u8; 3] = [255, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];

#[test]
fn panel_placement_and_size() {
    let mut fig = Figure::new(2, 2, 10, 8);
    fig.title("T");
    fig.set(0, 1, "a", Rgb::new(10, 8, RED)).unwrap();
    fig.set(1, 0, "b", Rgb::new(5, 4, BLUE)).unwrap();
    assert!(matches!(
        fig.set(2, 0, "x", Rgb::new(1, 1, RED)),
        Err(ReportError::Invalid(_))
    ));
    let (w, h) = fig.size();
    assert_eq!(w, 2 * MARGIN + 2 * 10 + GAP);
    assert_eq!(h, 2 * MARGIN + FIG_TITLE_H + 2 * (PANEL_TITLE_H + 8) + GAP);
    assert_eq!(
        fig.panel_origin(0, 0),
        (MARGIN, MARGIN + FIG_TITLE_H + PANEL_TITLE_H)
    );
    assert_eq!(
        fig.panel_origin(1, 1),
        (
            MARGIN + 10 + GAP,
            MARGIN + FIG_TITLE_H + 2 * PANEL_TITLE_H + 8 + GAP
        )
    );
    let img = fig.render();
    assert_eq!((img.width(), img.height()), (w, h));
    // Panel (0, 1) is filled red exactly over its 10x8 area.
    let (x0, y0) = fig.panel_origin(0, 1);
    assert!((0..8).all(|y| (0..10).all(|x| img.get(x0 + x, y0 + y) == RED)));
    assert_eq!(img.get(x0 - 1, y0), BACKGROUND);
    assert_eq!(img.get(x0, y0 + 8), BACKGROUND);
    // Panel (1, 0): a 5x4 image scaled by 2 exactly fills it.
    let (x1, y1) = fig.panel_origin(1, 0);
    assert!((0..8).all(|y| (0..10).all(|x| img.get(x1 + x, y1 + y) == BLUE)));
    // Panel (0, 0) is empty: its area is the panel background, with no title.
    let (x2, y2) = fig.panel_origin(0, 0);
    assert_eq!(img.get(x2 + 5, y2 + 4), PANEL_BACKGROUND);
    assert!(
        (0..PANEL_TITLE_H)
            .all(|dy| (0..10).all(|x| img.get(x2 + x, y2 - PANEL_TITLE_H + dy) == BACKGROUND))
    );
    // Panel titles and the figure title are drawn in their bars.
    let inked = |xr: std::ops::Range<usize>, yr: std::ops::Range<usize>| {
        yr.flat_map(|y| xr.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| img.get(x, y) == TEXT)
            .count()
    };
    assert!(inked(x0..x0 + 10, y0 - PANEL_TITLE_H..y0) > 3);
    assert!(inked(0..w, MARGIN..MARGIN + FIG_TITLE_H) > 10);
}

#[test]
fn panels_keep_aspect_and_are_centred() {
    // A 4x2 image (left half red, right half blue) in a 10x8 panel: scaled to 10x5, centred
    // vertically with one row of panel background above ((8 - 5) / 2 = 1).
    let mut src = Rgb::new(4, 2, RED);
    src.fill_rect(2, 0, 2, 2, BLUE);
    let fit = fit_nearest(&src, 10, 8).unwrap();
    assert_eq!((fit.width(), fit.height()), (10, 5));
    assert_eq!(
        (fit.get(4, 0), fit.get(5, 0), fit.get(9, 4)),
        (RED, BLUE, BLUE)
    );
    let mut fig = Figure::new(1, 1, 10, 8);
    fig.set(0, 0, "wide", src).unwrap();
    let img = fig.render();
    let (x0, y0) = fig.panel_origin(0, 0);
    assert_eq!(img.get(x0, y0), PANEL_BACKGROUND);
    assert_eq!(img.get(x0, y0 + 1), RED);
    assert_eq!(img.get(x0 + 9, y0 + 5), BLUE);
    assert_eq!(img.get(x0 + 9, y0 + 6), PANEL_BACKGROUND);
    // A tall image is centred horizontally; a large one is scaled down.
    let fit = fit_nearest(&Rgb::new(30, 60, RED), 10, 8).unwrap();
    assert_eq!((fit.width(), fit.height()), (4, 8));
    assert!(fit_nearest(&Rgb::new(0, 3, RED), 10, 8).is_none());
}

/// A [D, H, W] volume whose value is 100 z + x: each axial slice is a ramp along x.
fn ramp(dims: [usize; 3]) -> Vec<f32> {
    let [d, h, w] = dims;
    (0..d * h * w)
        .map(|i| (100 * (i / (h * w)) + i % w) as f32)
        .collect()
}

#[test]
fn slice_strip_layout_and_titles() {
    let dims = [8, 6, 10];
    let img = slice_strip(&ramp(dims), dims, "src").unwrap();
    let (pw, ph) = strip_panel_size(10, 6);
    assert_eq!((pw, ph), (120, 72));
    let mut fig = Figure::new(4, 1, pw, ph);
    assert_eq!((img.width(), img.height()), fig.size());
    for (col, z) in [0, 2, 4, 6].into_iter().enumerate() {
        let (x0, y0) = fig.panel_origin(0, col);
        // Min-max scaled ramp: black on the left, white on the right of each panel.
        assert_eq!(img.get(x0, y0 + 3), [0; 3]);
        assert_eq!(img.get(x0 + pw - 1, y0 + ph - 1), [255; 3]);
        // The title bar holds exactly "src z=<z>".
        let mut want = Rgb::new(img.width(), img.height(), BACKGROUND);
        draw_text(
            &mut want,
            x0,
            y0 - PANEL_TITLE_H + 2,
            &format!("src z={z}"),
            TEXT,
        );
        for y in y0 - PANEL_TITLE_H..y0 {
            for x in x0..x0 + pw {
                assert_eq!(
                    img.get(x, y),
                    want.get(x, y),
                    "title of z={z} at ({x}, {y})"
                );
            }
        }
        fig.set(0, col, "", Rgb::new(1, 1, RED)).unwrap();
    }
    assert!(slice_strip(&ramp(dims)[1..], dims, "src").is_err());
}

/// The overview of SPEC section 8 built from the pieces a caller has, saved and decoded again.
/// With VOXFLOW_FIGURE_DIR set the figures are also left there, to look at.
#[test]
fn overview_figure_renders_to_png() {
    let dims = [24, 32, 40];
    let [d, h, w] = dims;
    let blob = |cz: f32, cy: f32, cx: f32| -> Vec<f32> {
        (0..d * h * w)
            .map(|i| {
                let (z, y, x) = ((i / (h * w)) as f32, (i / w % h) as f32, (i % w) as f32);
                let r2 = ((z - cz) / 8.0).powi(2)
                    + ((y - cy) / 10.0).powi(2)
                    + ((x - cx) / 14.0).powi(2);
                (-2.0 * r2).exp() + 0.002 * y
            })
            .collect()
    };
    let src = blob(12.0, 14.0, 18.0);
    let tgt = blob(13.0, 17.0, 22.0);
    let warped = blob(12.8, 16.5, 21.0);
    let diff: Vec<f32> = warped
        .iter()
        .zip(&tgt)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let jac: Vec<f32> = (0..d * h * w)
        .map(|i| {
            1.0 + 1.5 * ((i % w) as f32 / w as f32 - 0.5) - 0.8 * ((i / w % h) as f32 / h as f32)
        })
        .collect();
    let cols: [(&str, &[f32], Shade); 5] = [
        ("src", &src, Shade::Gray),
        ("tgt", &tgt, Shade::Gray),
        ("warped", &warped, Shade::Gray),
        ("|warped-tgt|", &diff, Shade::Viridis),
        ("Jacobian det", &jac, Shade::Jacobian),
    ];
    let mut fig = Figure::new(5, 3, 96, 96);
    fig.title("overview pair 03, epoch 7");
    for (col, (name, vol, shade)) in cols.iter().enumerate() {
        let views = middle_slices(vol, dims).unwrap();
        for (row, (s, axis)) in views
            .iter()
            .zip(["axial", "coronal", "sagittal"])
            .enumerate()
        {
            fig.set(row, col, &format!("{name} {axis}"), s.render(*shade))
                .unwrap();
        }
    }
    let img = fig.render();
    // The Jacobian column shows folding in red where det <= 0 (bottom-left of the axial view).
    let (x0, y0) = fig.panel_origin(0, 4);
    let red = (y0..y0 + 96)
        .flat_map(|y| (x0..x0 + 96).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get(x, y) == jacobian_colour(-1.0))
        .count();
    assert!(red > 50, "{red} folding pixels");
    let tmp = TempDir::new("overview");
    let dir = tmp.0.clone();
    let path = dir.join("overview_03.png");
    save_png(&path, &img).unwrap();
    let (pw, ph, _, px) = decode(&std::fs::read(&path).unwrap());
    assert_eq!((pw, ph), (img.width(), img.height()));
    assert_eq!(px, img.bytes());
    if let Ok(keep) = std::env::var("VOXFLOW_FIGURE_DIR") {
        let keep = std::path::Path::new(&keep);
        save_png(&keep.join("overview_03.png"), &img).unwrap();
        save_png(
            &keep.join("src_03.png"),
            &slice_strip(&src, dims, "src").unwrap(),
        )
        .unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
