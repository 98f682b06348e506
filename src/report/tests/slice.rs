use crate::report::{Axis, Raster, ReportError, Shade, Slice2d, middle_slices, slice};

#[test]
fn min_max_scaling() {
    let s = Slice2d::from_raw(4, 1, vec![-2.0, 0.0, 2.0, 6.0]).unwrap();
    assert_eq!(s.min_max(), Some((-2.0, 6.0)));
    assert_eq!(s.scaled(), vec![0.0, 0.25, 0.5, 1.0]);
    // 0.25 * 255 = 63.75 -> 64, 0.5 * 255 = 127.5 -> 128.
    assert_eq!(s.to_gray().bytes().to_vec(), vec![0, 64, 128, 255]);
}

#[test]
fn constant_and_non_finite_slices() {
    let s = Slice2d::from_raw(3, 1, vec![7.0; 3]).unwrap();
    assert_eq!(s.to_gray().bytes().to_vec(), vec![128; 3]);
    assert!(s.scaled().iter().all(|v| *v == 0.5));
    let s = Slice2d::from_raw(3, 1, vec![1.0, f32::NAN, 3.0]).unwrap();
    assert_eq!(s.to_gray().bytes().to_vec(), vec![0, 0, 255]);
    let s = Slice2d::from_raw(2, 1, vec![f32::NAN, f32::INFINITY]).unwrap();
    assert_eq!(s.min_max(), None);
    assert_eq!(s.to_gray().bytes().to_vec(), vec![0, 0]);
}

/// A [D=3, H=4, W=5] volume, zero but for one bright voxel at (z, y, x).
fn one_voxel(z: usize, y: usize, x: usize) -> Vec<f32> {
    let mut v = vec![0.0; 3 * 4 * 5];
    v[(z * 4 + y) * 5 + x] = 1.0;
    v
}

/// The (col, row) of the only bright pixel of `s`, if there is exactly one.
fn bright(s: &Slice2d) -> Option<(usize, usize)> {
    let hits: Vec<usize> = (0..s.values().len())
        .filter(|&i| s.values()[i] > 0.5)
        .collect();
    match hits[..] {
        [i] => Some((i % s.width(), i / s.width())),
        _ => None,
    }
}

#[test]
fn slice_orientation_on_a_non_cubic_volume() {
    let dims = [3, 4, 5];
    let vol = one_voxel(0, 1, 3);
    // Axial (fixed z): W wide, H tall, rows = y from the top.
    let a = slice(&vol, dims, Axis::Axial, 0).unwrap();
    assert_eq!((a.width(), a.height()), (5, 4));
    assert_eq!(bright(&a), Some((3, 1)));
    // Coronal (fixed y): W wide, D tall, z up: z = 0 is the bottom row.
    let c = slice(&vol, dims, Axis::Coronal, 1).unwrap();
    assert_eq!((c.width(), c.height()), (5, 3));
    assert_eq!(bright(&c), Some((3, 2)));
    // Sagittal (fixed x): H wide, D tall, z up.
    let s = slice(&vol, dims, Axis::Sagittal, 3).unwrap();
    assert_eq!((s.width(), s.height()), (4, 3));
    assert_eq!(bright(&s), Some((1, 2)));
    // Other slices miss the voxel.
    assert_eq!(bright(&slice(&vol, dims, Axis::Axial, 1).unwrap()), None);
    assert_eq!(bright(&slice(&vol, dims, Axis::Coronal, 2).unwrap()), None);
    assert_eq!(bright(&slice(&vol, dims, Axis::Sagittal, 4).unwrap()), None);
    // The top row of coronal/sagittal views is the last z.
    let top = one_voxel(2, 3, 4);
    assert_eq!(
        bright(&slice(&top, dims, Axis::Coronal, 3).unwrap()),
        Some((4, 0))
    );
    assert_eq!(
        bright(&slice(&top, dims, Axis::Sagittal, 4).unwrap()),
        Some((3, 0))
    );
}

#[test]
fn middle_slices_and_errors() {
    let dims = [3, 4, 5];
    let vol = one_voxel(1, 2, 2);
    let [a, c, s] = middle_slices(&vol, dims).unwrap();
    assert_eq!(bright(&a), Some((2, 2)));
    assert_eq!(bright(&c), Some((2, 1)));
    assert_eq!(bright(&s), Some((2, 1)));
    let e = slice(&vol, dims, Axis::Axial, 3).unwrap_err().to_string();
    assert!(e.contains("z = 3"), "{e}");
    let e = slice(&vol[1..], dims, Axis::Axial, 0).unwrap_err();
    assert!(matches!(e, ReportError::Invalid(_)));
    assert!(Slice2d::from_raw(2, 2, vec![0.0; 3]).is_err());
}

#[test]
fn render_shades() {
    let s = Slice2d::from_raw(3, 1, vec![0.0, 1.0, -1.0]).unwrap();
    let g = s.render(Shade::Gray);
    assert_eq!(
        (g.get(0, 0), g.get(1, 0), g.get(2, 0)),
        ([128; 3], [255; 3], [0; 3])
    );
    let v = s.render(Shade::Viridis);
    assert_eq!(v.get(1, 0), crate::report::viridis(1.0));
    let j = Slice2d::from_raw(2, 1, vec![1.0, -0.5])
        .unwrap()
        .render(Shade::Jacobian);
    assert_eq!(
        (j.get(0, 0), j.get(1, 0)),
        ([255; 3], crate::report::FOLD_COLOUR)
    );
}
