"""Brain MRI check (docs/accuracy.md): `voxflow register` on a real T1 brain MRI (nibabel's
test volume `anatomical.nii`, 33 x 41 x 25 voxels of 2 mm, installed with nibabel) against a
moved copy of itself whose true map is known.

The moving scan is the fixed one seen through a smooth deformation (a rotation of 6 degrees,
a shift, and sine waves of up to 4 mm), on a grid of its own (2.5 mm, tilted), multiplied by a
smooth intensity bias (0.75 to 1.25, as MRI coils give), with noise. 300 moving points inside
the head and the fixed points they come from are the landmarks. Prints TRE and time for no
registration, voxflow with each similarity, and SimpleITK (affine + demons).

Usage: python3 scripts/brain_mri.py [--voxflow BIN] [--work DIR]
Needs `pip install SimpleITK nibabel numpy`; not run by CI.
"""
import argparse
import math
import os
import subprocess
import time

import nibabel
import numpy as np
import SimpleITK as sitk


def deformation(p):
    """Fixed world point of moving world points p (N x 3, LPS mm)."""
    a = math.radians(6.0)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    c = np.array([0.0, -20.0, 10.0])
    q = (p - c) @ rot.T + c + np.array([3.0, -2.0, 1.5])
    waves = np.stack([4.0 * np.sin(p[:, 1] / 18.0), 3.0 * np.sin(p[:, 2] / 15.0 + 1.0),
                      3.0 * np.cos(p[:, 0] / 20.0)], axis=1)
    return q + waves


def make_pair(work):
    src = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii")
    fixed = sitk.ReadImage(src, sitk.sitkFloat32)
    size = [int(n * 2.0 / 2.5) for n in fixed.GetSize()]
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing([2.5, 2.5, 2.5])
    t = math.radians(5.0)
    d = np.array(fixed.GetDirection()).reshape(3, 3) @ np.array(
        [[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    grid.SetDirection(d.flatten().tolist())
    centre = np.array(fixed.TransformContinuousIndexToPhysicalPoint(
        [(n - 1) / 2.0 for n in fixed.GetSize()]))
    grid.SetOrigin((centre - d @ (2.5 * (np.array(size) - 1) / 2.0)).tolist())
    # Moving voxel centres, their fixed points, the fixed image sampled there.
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), -1).reshape(-1, 3)
    pts = np.array([grid.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in idx])
    src_pts = deformation(pts)
    field = sitk.Image(size, sitk.sitkVectorFloat64, 3)
    field.CopyInformation(grid)
    disp = (src_pts - pts).reshape(size[0], size[1], size[2], 3).transpose(2, 1, 0, 3)
    field = sitk.GetImageFromArray(disp, isVector=True)
    field.CopyInformation(grid)
    moving = sitk.Resample(fixed, grid, sitk.DisplacementFieldTransform(field), sitk.sitkLinear,
                           0.0)
    arr = sitk.GetArrayFromImage(moving)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in arr.shape], indexing="ij")
    bias = 1.0 + 0.25 * np.sin(1.3 * xx + 0.7) * np.cos(1.1 * yy - 0.4 * zz)
    rng = np.random.default_rng(7)
    arr = arr * bias + rng.normal(0.0, 0.01 * float(arr.max()), arr.shape)
    moving2 = sitk.GetImageFromArray(arr.astype(np.float32))
    moving2.CopyInformation(grid)
    # Landmarks: moving voxels inside the head (bright enough), away from the border.
    inside = np.where(sitk.GetArrayFromImage(moving).reshape(-1) > 0.25 * float(arr.max()))[0]
    flat = idx[:, [2, 1, 0]]  # idx is (x, y, z); the array is (z, y, x)
    border = np.all((idx >= 2) & (idx < np.array(size) - 2), axis=1)
    keep = [k for k in range(len(idx)) if border[k]]
    keep = np.intersect1d(np.array(keep), inside)
    pick = rng.choice(keep, size=min(300, len(keep)), replace=False)
    del flat
    m_pts, f_pts = pts[pick], src_pts[pick]
    paths = {k: os.path.join(work, k) for k in
             ["fixed.nii.gz", "moving.nii.gz", "fixed.csv", "moving.csv"]}
    sitk.WriteImage(fixed, paths["fixed.nii.gz"])
    sitk.WriteImage(moving2, paths["moving.nii.gz"])
    for name, p in [("fixed.csv", f_pts), ("moving.csv", m_pts)]:
        np.savetxt(paths[name], p, delimiter=",", header="x,y,z", comments="", fmt="%.5f")
    return paths, f_pts, m_pts


def tre_of_field(disp_path, f_pts, m_pts):
    field = sitk.ReadImage(disp_path, sitk.sitkVectorFloat64)
    tx = sitk.DisplacementFieldTransform(field)
    mapped = np.array([tx.TransformPoint(p.tolist()) for p in f_pts])
    return np.linalg.norm(mapped - m_pts, axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxflow", default="target/release/voxflow")
    ap.add_argument("--work", default="/tmp/voxflow-brain")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    paths, f_pts, m_pts = make_pair(a.work)
    rows = [("none", np.linalg.norm(f_pts - m_pts, axis=1), 0.0)]
    for sim in ["mse", "ncc", "lncc"]:
        out = os.path.join(a.work, "reg_" + sim)
        t0 = time.time()
        subprocess.run([a.voxflow, "register", "--fixed", paths["fixed.nii.gz"], "--moving",
                        paths["moving.nii.gz"], "--fixed-landmarks", paths["fixed.csv"],
                        "--moving-landmarks", paths["moving.csv"], "--similarity", sim,
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        rows.append(("voxflow " + sim, tre_of_field(os.path.join(out, "displacement.nii.gz"),
                                                    f_pts, m_pts), time.time() - t0))
    t0 = time.time()
    fixed = sitk.ReadImage(paths["fixed.nii.gz"], sitk.sitkFloat32)
    moving = sitk.ReadImage(paths["moving.nii.gz"], sitk.sitkFloat32)
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                             sitk.CenteredTransformInitializerFilter.MOMENTS)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(32)
    reg.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-4, 200)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetInitialTransform(init, inPlace=False)
    reg.SetInterpolator(sitk.sitkLinear)
    affine = reg.Execute(fixed, moving)
    moved = sitk.Resample(moving, fixed, affine, sitk.sitkLinear, 0.0)
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(50)
    demons.SetStandardDeviations(1.5)
    disp = demons.Execute(fixed, sitk.HistogramMatching(moved, fixed))
    disp_tx = sitk.DisplacementFieldTransform(sitk.Cast(disp, sitk.sitkVectorFloat64))
    mapped = np.array([affine.TransformPoint(disp_tx.TransformPoint(p.tolist()))
                       for p in f_pts])
    rows.append(("SimpleITK", np.linalg.norm(mapped - m_pts, axis=1), time.time() - t0))
    print(f"{'method':<14} {'TRE mean':>9} {'p90':>6} {'max':>6} {'s':>6}")
    for name, e, s in rows:
        print(f"{name:<14} {e.mean():9.2f} {np.percentile(e, 90):6.2f} {e.max():6.2f} {s:6.1f}")


if __name__ == "__main__":
    main()
