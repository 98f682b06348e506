"""The registration accuracy benchmark (docs/accuracy.md): breathing-phase pairs of phantom
subjects (phase 1 moving onto phase 0 fixed, 400 corresponding landmarks each) registered by
no registration, `voxflow register`, SimpleITK (affine, then multi-resolution demons) and,
with --ants, ANTs SyN (antspyx's defaults).
Prints one row per method and pair (TRE mean/p90/max in mm, lung Dice at native resolution,
% folding, seconds) and the means.

Usage: python3 scripts/accuracy.py [--voxflow BIN] [--n 3] [--seed 11] [--work DIR] [--no-sitk]
                                   [--ants]
Needs `pip install SimpleITK numpy` for the SimpleITK rows, `pip install antspyx pandas` for
ANTs; not run by CI.
"""
import argparse
import csv
import json
import os
import subprocess
import time

import numpy as np


def landmarks(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return np.array([[float(v) for v in r] for r in rows[1:] if r], dtype=np.float64)


def stats(errors):
    return errors.mean(), np.percentile(errors, 90), errors.max()


def dice(a, b):
    a, b = a > 0.5, b > 0.5
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * np.logical_and(a, b).sum() / s


def run_voxflow(binary, f, m, fm, mm, fl, ml, out):
    start = time.time()
    subprocess.run([binary, "register", "--fixed", f, "--moving", m, "--out", out,
                    "--fixed-mask", fm, "--moving-mask", mm, "--fixed-landmarks", fl,
                    "--moving-landmarks", ml], check=True, stdout=subprocess.DEVNULL)
    secs = time.time() - start
    with open(os.path.join(out, "summary.json")) as fh:
        s = json.load(fh)
    t = s["tre"]["after"]
    return t["mean"], t["p90"], t["max"], s["masks"]["dice"]["after"], s["folding_pct"], secs


def run_sitk(f, m, fm, mm, fl, ml):
    import SimpleITK as sitk

    fixed = sitk.ReadImage(f, sitk.sitkFloat32)
    moving = sitk.ReadImage(m, sitk.sitkFloat32)
    start = time.time()
    # Affine (mean squares, 3 levels), then demons on the affinely resampled moving image.
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMeanSquares()
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.1, 7)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-4, 200)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                             sitk.CenteredTransformInitializerFilter.MOMENTS)
    reg.SetInitialTransform(init, inPlace=False)
    affine = reg.Execute(fixed, moving)
    moved = sitk.Resample(moving, fixed, affine, sitk.sitkLinear, -1024.0)
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(50)
    demons.SetStandardDeviations(1.5)
    field = None
    for shrink in (4, 2, 1):
        fs = sitk.Shrink(fixed, [shrink] * 3)
        ms = sitk.Shrink(moved, [shrink] * 3)
        if field is not None:
            field = sitk.Resample(field, fs)
        else:
            field = sitk.Image(fs.GetSize(), sitk.sitkVectorFloat64, 3)
            field.CopyInformation(fs)
        field = demons.Execute(fs, ms, field)
    field = sitk.Resample(field, fixed)
    dense = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    secs = time.time() - start
    composite = sitk.CompositeTransform([affine, dense])
    lf, lm = landmarks(fl), landmarks(ml)
    mapped = np.array([composite.TransformPoint(tuple(p)) for p in lf])
    errors = np.linalg.norm(mapped - lm, axis=1)
    fmask = sitk.GetArrayFromImage(sitk.ReadImage(fm))
    wmask = sitk.GetArrayFromImage(
        sitk.Resample(sitk.ReadImage(mm), fixed, composite, sitk.sitkNearestNeighbor, 0))
    jac = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(field))
    return (*stats(errors), dice(fmask, wmask), 100.0 * float((jac <= 0).mean()), secs)


def run_ants(f, m, fm, mm, fl, ml):
    """ANTs SyN with antspyx's defaults (affine, then SyN; mutual information and CC)."""
    import ants
    import pandas as pd

    fixed, moving = ants.image_read(f), ants.image_read(m)
    start = time.time()
    reg = ants.registration(fixed, moving, type_of_transform="SyN")
    secs = time.time() - start
    # Points go the other way round from images: the forward transforms carry fixed points
    # into the moving scan.
    lf, lm = landmarks(fl), landmarks(ml)
    pts = pd.DataFrame(lf, columns=["x", "y", "z"])
    mapped = ants.apply_transforms_to_points(3, pts, reg["fwdtransforms"])[["x", "y", "z"]]
    errors = np.linalg.norm(mapped.to_numpy() - lm, axis=1)
    fmask = ants.image_read(fm).numpy()
    wmask = ants.apply_transforms(fixed, ants.image_read(mm), reg["fwdtransforms"],
                                  interpolator="nearestNeighbor").numpy()
    warp = [t for t in reg["fwdtransforms"] if t.endswith("Warp.nii.gz")][0]
    jac = ants.create_jacobian_determinant_image(fixed, warp).numpy()
    return (*stats(errors), dice(fmask, wmask), 100.0 * float((jac <= 0).mean()), secs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxflow", default="target/release/voxflow")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--work", default="/tmp/voxflow-accuracy")
    ap.add_argument("--no-sitk", action="store_true")
    ap.add_argument("--ants", action="store_true", help="also ANTs SyN (pip antspyx)")
    a = ap.parse_args()
    data = os.path.join(a.work, "phantom")
    subprocess.run([a.voxflow, "phantom", "--out", data, "--n", str(a.n), "--seed",
                    str(a.seed), "--subsets", "1", "--phases", "2"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(data, "phantom.json")) as fh:
        ids = [s["id"] for s in json.load(fh)["subjects"] if s["phase"] == 0]
    rows = {"none": [], "voxflow": [], "simpleitk": [], "ants": []}
    print(f"{'method':<10} {'pair':<6} {'TRE mean':>9} {'p90':>6} {'max':>6} {'Dice':>7} "
          f"{'fold %':>7} {'s':>6}")
    for k, i in enumerate(ids):
        j = i + "_p1"
        f, m = (os.path.join(data, "subset0", x + ".mhd") for x in (i, j))
        fm, mm = (os.path.join(data, "seg-lungs-LUNA16", x + ".mhd") for x in (i, j))
        fl, ml = (os.path.join(data, "landmarks", i, x + ".csv") for x in (i, j))
        import SimpleITK as sitk
        fmask = sitk.GetArrayFromImage(sitk.ReadImage(fm))
        wmask = sitk.GetArrayFromImage(sitk.Resample(sitk.ReadImage(mm), sitk.ReadImage(fm),
                                                     sitk.Transform(), sitk.sitkNearestNeighbor, 0))
        none = np.linalg.norm(landmarks(fl) - landmarks(ml), axis=1)
        rows["none"].append((*stats(none), dice(fmask, wmask), 0.0, 0.0))
        out = os.path.join(a.work, f"voxflow_{k}")
        rows["voxflow"].append(run_voxflow(a.voxflow, f, m, fm, mm, fl, ml, out))
        if not a.no_sitk:
            rows["simpleitk"].append(run_sitk(f, m, fm, mm, fl, ml))
        if a.ants:
            rows["ants"].append(run_ants(f, m, fm, mm, fl, ml))
        for name in rows:
            if len(rows[name]) > k:
                r = rows[name][k]
                print(f"{name:<10} {k:<6} {r[0]:9.2f} {r[1]:6.2f} {r[2]:6.2f} {r[3]:7.4f} "
                      f"{r[4]:7.4f} {r[5]:6.1f}")
    for name, rs in rows.items():
        if rs:
            mean = np.array(rs).mean(axis=0)
            print(f"{name:<10} {'mean':<6} {mean[0]:9.2f} {mean[1]:6.2f} {mean[2]:6.2f} "
                  f"{mean[3]:7.4f} {mean[4]:7.4f} {mean[5]:6.1f}")


if __name__ == "__main__":
    main()
