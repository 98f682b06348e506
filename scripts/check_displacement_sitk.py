"""Checks that voxflow's displacement.nii.gz is the transform SimpleITK applies: resamples the
moving scan with sitk.DisplacementFieldTransform(displacement.nii.gz) onto the fixed grid and
compares with voxflow's warped.nii.gz. Prints the largest and mean absolute difference.

Usage: python3 scripts/check_displacement_sitk.py FIXED MOVING OUT_DIR
(OUT_DIR: the --out of `voxflow register`). Needs `pip install SimpleITK numpy`; not run by CI.
"""
import sys

import numpy as np
import SimpleITK as sitk


def main(fixed_path, moving_path, out_dir):
    fixed = sitk.ReadImage(fixed_path, sitk.sitkFloat32)
    moving = sitk.ReadImage(moving_path, sitk.sitkFloat32)
    field = sitk.ReadImage(f"{out_dir}/displacement.nii.gz", sitk.sitkVectorFloat64)
    transform = sitk.DisplacementFieldTransform(field)
    warped_sitk = sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0)
    warped_vf = sitk.ReadImage(f"{out_dir}/warped.nii.gz", sitk.sitkFloat32)
    a = sitk.GetArrayFromImage(warped_sitk)
    b = sitk.GetArrayFromImage(warped_vf)
    diff = np.abs(a - b)
    span = float(np.percentile(b, 99) - np.percentile(b, 1))
    print(f"max |sitk - voxflow| {diff.max():.4g}, mean {diff.mean():.4g} "
          f"(intensity span p1..p99 {span:.4g}); voxels differing by > 1% of it: "
          f"{100.0 * float((diff > 0.01 * span).mean()):.4f}%")


if __name__ == "__main__":
    main(*sys.argv[1:4])
