//! The files written: names, sizes, what each strip draws, and bad input.

use super::*;
use crate::testutil::TempDir;

#[test]
fn writes_every_file_without_a_mask() {
    let dims = [8, 10, 12];
    let pair = Pair::simple(dims);
    let tmp = TempDir::absent("nomask");
    let dir = tmp.0.join("nested/obs");
    let overview = write_observations(&dir, 3, &pair.obs(false)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = STRIPS.iter().map(|s| format!("{s}_03.png")).collect();
    want.push("overview_03.png".into());
    want.sort();
    assert_eq!(names, want, "no pred_seg and no temporary files left");
    for s in STRIPS {
        let (w, h, _) = decode(&dir.join(format!("{s}_03.png")));
        assert_eq!((w, h), strip_size(dims), "{s}");
    }
    // The overview file is the returned image: 5 columns x 3 rows of square panels.
    let (w, h, data) = decode(&dir.join("overview_03.png"));
    assert_eq!((w, h), (overview.width(), overview.height()));
    assert_eq!(w, 2 * MARGIN + 5 * 120 + 4 * GAP, "12 voxels scaled by 10");
    assert!(h > 3 * (120 + PANEL_TITLE_H) && h < 3 * (120 + PANEL_TITLE_H) + 60);
    assert_eq!(px(&data, w, w / 2, h / 2), overview.get(w / 2, h / 2));
    assert_eq!(data.len(), w * h * 3);
}

#[test]
fn writes_the_mask_strip_and_numbers_epochs_with_two_or_more_digits() {
    let pair = Pair::simple([8, 10, 12]);
    let tmp = TempDir::absent("mask");
    let dir = tmp.0.clone();
    for (epoch, tag) in [(0, "00"), (7, "07"), (123, "123")] {
        write_observations(&dir, epoch, &pair.obs(true)).unwrap();
        for s in STRIPS.iter().chain(&["pred_seg", "overview"]) {
            assert!(
                dir.join(format!("{s}_{tag}.png")).is_file(),
                "{s}_{tag}.png"
            );
        }
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3 * 8);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The centre pixel of the left and right thirds of the first panel of a strip, and of the
/// top and bottom thirds.
fn strip_probes(path: &Path, dims: [usize; 3]) -> [[u8; 3]; 4] {
    let (w, _, data) = decode(path);
    let (pw, ph) = strip_panel_size(dims[2], dims[1]);
    let (x0, y0) = (MARGIN, MARGIN + PANEL_TITLE_H);
    [
        px(&data, w, x0 + pw / 6, y0 + ph / 2),
        px(&data, w, x0 + 5 * pw / 6, y0 + ph / 2),
        px(&data, w, x0 + pw / 2, y0 + ph / 6),
        px(&data, w, x0 + pw / 2, y0 + 5 * ph / 6),
    ]
}

#[test]
fn strips_draw_the_source_mask_and_every_gradient_channel() {
    let dims = [8, 10, 12];
    let pair = Pair::simple(dims);
    let tmp = TempDir::absent("strips");
    let dir = tmp.0.clone();
    write_observations(&dir, 1, &pair.obs(true)).unwrap();
    let luma = |p: [u8; 3]| p[0];
    // The mask given (left half) is what is drawn: white left, black right.
    let [l, r, _, _] = strip_probes(&dir.join("pred_seg_01.png"), dims);
    assert_eq!((l, r), ([255; 3], [0; 3]));
    // Each slice is min-max scaled on its own: the src blob's peak is white in every panel.
    let (w, _, data) = decode(&dir.join("src_01.png"));
    let (pw, ph) = strip_panel_size(dims[2], dims[1]);
    for col in 0..4 {
        let x0 = MARGIN + col * (pw + GAP);
        let peak = (0..ph)
            .flat_map(|y| (0..pw).map(move |x| (x, y)))
            .map(|(x, y)| px(&data, w, x0 + x, MARGIN + PANEL_TITLE_H + y)[0])
            .max();
        assert_eq!(peak, Some(255), "panel {col}");
    }
    // grad x rises along x, grad y along y (rows from the top), grad z falls along x.
    let [l, r, t, b] = strip_probes(&dir.join("grad_x_01.png"), dims);
    assert!(luma(l) < 80 && luma(r) > 170 && luma(t) == luma(b));
    let [l, r, t, b] = strip_probes(&dir.join("grad_y_01.png"), dims);
    assert!(luma(t) < 80 && luma(b) > 170 && luma(l) == luma(r));
    let [l, r, _, _] = strip_probes(&dir.join("grad_z_01.png"), dims);
    assert!(luma(l) > 170 && luma(r) < 80);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn constant_slices_take_the_volume_range() {
    let dims = [8, 6, 6];
    // A mask empty below z = 4 and full from z = 6: panels z = 0, 2 black, z = 6 white; the
    // half-full slice z = 4 is drawn as it is.
    let mask = volume(dims, |x, _, z| {
        if z >= 6.0 || (z >= 4.0 && x < 3.0) {
            1.0
        } else {
            0.0
        }
    });
    let img = strip(&mask, dims, "m").unwrap();
    let (pw, ph) = strip_panel_size(6, 6);
    let centre = |col: usize| {
        img.get(
            MARGIN + col * (pw + GAP) + pw / 2,
            MARGIN + PANEL_TITLE_H + ph / 2,
        )
    };
    let left = |col: usize| {
        img.get(
            MARGIN + col * (pw + GAP) + pw / 4,
            MARGIN + PANEL_TITLE_H + ph / 2,
        )
    };
    assert_eq!(
        [centre(0), centre(1), left(2), centre(2), centre(3)],
        [[0; 3], [0; 3], [255; 3], [0; 3], [255; 3]]
    );
    // A constant volume is mid-gray.
    let img = strip(&[0.5; 288], dims, "c").unwrap();
    assert_eq!(
        img.get(MARGIN + pw / 2, MARGIN + PANEL_TITLE_H + ph / 2),
        [128; 3]
    );
}

#[test]
fn bad_lengths_and_dims_are_errors_and_write_nothing() {
    let dims = [4, 5, 6];
    let pair = Pair::simple(dims);
    let tmp = TempDir::absent("bad");
    let dir = tmp.0.clone();
    let short = vec![0.0; 119];
    let cases: [(&str, Observation); 7] = [
        (
            "src",
            Observation {
                src: &short,
                ..pair.obs(false)
            },
        ),
        (
            "tgt",
            Observation {
                tgt: &short,
                ..pair.obs(false)
            },
        ),
        (
            "warped",
            Observation {
                warped: &short,
                ..pair.obs(false)
            },
        ),
        (
            "gradient",
            Observation {
                gradient: &pair.src,
                ..pair.obs(false)
            },
        ),
        (
            "grid",
            Observation {
                grid: &pair.grid[3..],
                ..pair.obs(false)
            },
        ),
        (
            "warped_seg",
            Observation {
                warped_seg: Some(&short),
                ..pair.obs(false)
            },
        ),
        (
            "dims",
            Observation {
                dims: [0, 5, 6],
                ..pair.obs(false)
            },
        ),
    ];
    for (what, obs) in cases {
        match write_observations(&dir, 1, &obs) {
            Err(ReportError::Invalid(msg)) => assert!(msg.contains(what), "{what}: {msg}"),
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
    }
    let huge = Observation {
        dims: [usize::MAX, 2, 1],
        ..pair.obs(false)
    };
    assert!(matches!(
        write_observations(&dir, 1, &huge),
        Err(ReportError::Invalid(_))
    ));
    assert!(!dir.exists(), "nothing written for bad input");
}
