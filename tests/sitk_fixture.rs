//! voxflow's displacement files are what SimpleITK applies: the fixture
//! `tests/fixtures/sitk_displacement` (made by `scripts/make_sitk_fixture.py`) holds a moving
//! scan on a rotated, flipped, shifted grid of its own, the `displacement.nii.gz` that
//! `voxflow register` wrote for it, and `sitk_warped.nii.gz`: the moving scan resampled by
//! SimpleITK through `sitk.DisplacementFieldTransform` of that file onto the fixed grid. Reading
//! the file back and warping with it here must give SimpleITK's image.

use std::path::PathBuf;
use voxflow::data::io::nifti;
use voxflow::registration::{DisplacementField, Grid, Interp};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sitk_displacement")
        .join(name)
}

#[test]
fn simpleitk_applies_voxflows_displacement_file_as_voxflow_does() {
    let comps = nifti::read_vector(&fixture("displacement.nii.gz")).unwrap();
    assert_eq!(comps.len(), 3);
    // The file holds RAS components (NIfTI's world); voxflow's frame is LPS.
    let grid = Grid::of(&comps[0]);
    let mut data = Vec::with_capacity(3 * grid.len());
    for i in 0..grid.len() {
        data.extend([-comps[0].data[i], -comps[1].data[i], comps[2].data[i]]);
    }
    let field = DisplacementField { grid, data };
    let moving = nifti::read(&fixture("moving.nii.gz")).unwrap();
    assert!(
        (moving.direction[0][1]).abs() > 0.1,
        "the moving grid is rotated: {:?}",
        moving.direction
    );
    let want = nifti::read(&fixture("sitk_warped.nii.gz")).unwrap();
    let got = field.warp(&moving, Interp::Linear, 0.0);
    assert_eq!(got.dims, want.dims);
    let span = 2000.0; // HU, about the phantom's range
    let close = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .filter(|(x, y)| (**x - **y).abs() < 1e-3 * span)
            .count() as f64
            / a.len() as f64
    };
    // Voxels whose sample lands on the moving grid's last half voxel may differ (ITK and
    // voxflow treat the border differently); everywhere else the two agree.
    let agree = close(&got.data, &want.data);
    assert!(agree > 0.995, "{:.4} of the voxels agree", agree);
    // The field matters: without it the images differ a lot.
    let lying = DisplacementField::zeros(field.grid.clone()).warp(&moving, Interp::Linear, 0.0);
    assert!(close(&lying.data, &want.data) < 0.8);
    let largest = field.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(
        largest > 3.0,
        "the registration moves voxels by up to {largest} mm"
    );
}
