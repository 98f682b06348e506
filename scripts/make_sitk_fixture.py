"""Makes tests/fixtures/sitk_displacement/: a registration by voxflow checked by SimpleITK.

Two breathing phases of a small phantom subject; the moving one is first resampled by SimpleITK
onto a grid that is rotated 12 degrees about z, flipped along y, shifted and at another spacing,
so that the two scans share no voxel grid. `voxflow register` registers them; SimpleITK then
applies voxflow's displacement.nii.gz as a sitk.DisplacementFieldTransform to moving.nii.gz
onto the displacement's (the fixed scan's) grid and writes sitk_warped.nii.gz. The test
tests/sitk_fixture.rs warps moving.nii.gz with the same file through voxflow and must get
SimpleITK's result.

Usage: python3 scripts/make_sitk_fixture.py VOXFLOW_BINARY
Needs `pip install SimpleITK numpy`; not run by CI (its output is committed).
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import SimpleITK as sitk

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "sitk_displacement")


def main(voxflow):
    tmp = tempfile.mkdtemp(prefix="vf-sitk-fixture-")
    data = os.path.join(tmp, "data")
    subprocess.run([voxflow, "phantom", "--out", data, "--n", "1", "--seed", "4", "--subsets",
                    "1", "--phases", "2", "--grid-scale", "0.22"], check=True,
                   stdout=subprocess.DEVNULL)
    ids = sorted(f[:-4] for f in os.listdir(os.path.join(data, "subset0")) if f.endswith(".mhd"))
    fixed = sitk.ReadImage(os.path.join(data, "subset0", ids[0] + ".mhd"), sitk.sitkFloat32)
    moving = sitk.ReadImage(os.path.join(data, "subset0", ids[1] + ".mhd"), sitk.sitkFloat32)
    # Another grid for the moving scan: rotated about z, y flipped, shifted, other spacing.
    a = math.radians(12.0)
    rot = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0],
                    [0.0, 0.0, 1.0]])
    direction = rot @ np.diag([1.0, -1.0, 1.0])
    size = [int(n * 0.9) for n in moving.GetSize()]
    spacing = [s * 1.15 for s in moving.GetSpacing()]
    centre = np.array(moving.TransformContinuousIndexToPhysicalPoint(
        [(n - 1) / 2.0 for n in moving.GetSize()]))
    half = direction @ (np.array(spacing) * (np.array(size) - 1) / 2.0)
    origin = centre - half + np.array([4.0, -3.0, 5.0])
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetDirection(direction.flatten().tolist())
    grid.SetOrigin(origin.tolist())
    moved = sitk.Resample(moving, grid, sitk.Transform(), sitk.sitkLinear, -1024.0)
    fixed_path, moving_path = os.path.join(tmp, "fixed.nii.gz"), os.path.join(tmp, "moving.nii.gz")
    sitk.WriteImage(fixed, fixed_path)
    sitk.WriteImage(moved, moving_path)
    out = os.path.join(tmp, "reg")
    subprocess.run([voxflow, "register", "--fixed", fixed_path, "--moving", moving_path,
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    field = sitk.ReadImage(os.path.join(out, "displacement.nii.gz"), sitk.sitkVectorFloat64)
    transform = sitk.DisplacementFieldTransform(field)
    # The transform took the field's pixels; the fixed scan's grid is the field's.
    warped = sitk.Resample(sitk.ReadImage(moving_path, sitk.sitkFloat32), fixed, transform,
                           sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    os.makedirs(OUT, exist_ok=True)
    shutil.copy(moving_path, os.path.join(OUT, "moving.nii.gz"))
    shutil.copy(os.path.join(out, "displacement.nii.gz"), os.path.join(OUT, "displacement.nii.gz"))
    sitk.WriteImage(warped, os.path.join(OUT, "sitk_warped.nii.gz"))
    shutil.rmtree(tmp)
    print("fixture written to", os.path.normpath(OUT))


if __name__ == "__main__":
    main(sys.argv[1])
