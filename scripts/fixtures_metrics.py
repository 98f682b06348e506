"""Golden values of voxflow's registration metrics (src/metrics), computed with scipy
and numpy, written to tests/fixtures/eval_metrics.txt.

Run: python3 scripts/fixtures_metrics.py   (needs numpy and scipy; CI never runs it)

Format (read by src/metrics/tests.rs): one array per line,
    name<TAB>dim0,dim1,...<TAB>v0 v1 v2 ...
values printed with 17 significant digits (exact for f64); '#' lines are comments.
Arrays are in voxflow's array order [D, H, W] (x fastest); spacings are listed as (x, y, z)
mm and given to scipy in array order (z, y, x).
"""
import os

import numpy as np
from scipy import ndimage

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "eval_metrics.txt")

rng = np.random.default_rng(2024)
D, H, W = 12, 14, 16
SPACING_XYZ = np.array([1.5, 0.8, 1.2])
SAMPLING = SPACING_XYZ[::-1]  # scipy: array axes (z, y, x)

z, y, x = np.meshgrid(np.arange(D), np.arange(H), np.arange(W), indexing="ij")


def blob(cz, cy, cx, rz, ry, rx, noise):
    """An ellipsoid (in voxels) with a bumpy boundary."""
    r = ((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2
    return r + noise * rng.standard_normal(r.shape) < 1.0


# a touches the volume's border (x = 0), b has a separate small component.
a = blob(6, 7, 4, 4.5, 5, 5.5, 0.15)
b = blob(5.5, 6, 8, 4, 5.5, 5, 0.15) | blob(2, 11, 13, 1.5, 1.5, 1.5, 0.0)
assert a.any() and b.any() and a[:, :, 0].any()

struct = ndimage.generate_binary_structure(3, 1)  # 6-connectivity


def surface(m):
    return m & ~ndimage.binary_erosion(m, structure=struct, border_value=0)


sa, sb = surface(a), surface(b)
# Distance from every voxel to the nearest voxel of a (EDT of the complement).
edt_a = ndimage.distance_transform_edt(~a, sampling=SAMPLING)
# Surface distances, MedPy style: EDT of the other surface's complement at each surface voxel.
d_ab = ndimage.distance_transform_edt(~sb, sampling=SAMPLING)[sa]
d_ba = ndimage.distance_transform_edt(~sa, sampling=SAMPLING)[sb]
pooled = np.hstack([d_ab, d_ba])
hausdorff = max(d_ab.max(), d_ba.max())
hd95 = np.percentile(pooled, 95)
msd = pooled.mean()
dice = 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())

# A smooth random deformation, strong enough to fold somewhere: grid = identity + u.
u = rng.standard_normal((3, D, H, W))
u = np.stack([ndimage.gaussian_filter(c, 1.5) for c in u]) * 9.0
grid = np.stack([x + u[0], y + u[1], z + u[2]], axis=-1)  # channels x, y, z
# voxflow reads the grid as float32: compute the Jacobian from exactly those values, by central
# differences (one-sided at the borders), i.e. np.gradient.
grid = grid.astype(np.float32).astype(np.float64)
J = np.empty((D, H, W, 3, 3))
for c in range(3):
    gz, gy, gx = np.gradient(grid[..., c])
    J[..., c, 0], J[..., c, 1], J[..., c, 2] = gx, gy, gz
det = np.linalg.det(J)
folding = 100.0 * (det <= 0).mean()
sdlogj = np.log(np.clip(det, 1e-9, None)).std()
assert 0.5 < folding < 50, folding

# Two correlated images.
img_t = rng.standard_normal((D, H, W)).astype(np.float32)
img_w = (0.7 * img_t + 0.5 * rng.standard_normal((D, H, W)) + 0.3).astype(np.float32)
mse = np.mean((img_w.astype(np.float64) - img_t.astype(np.float64)) ** 2)
r = np.corrcoef(img_w.astype(np.float64).ravel(), img_t.astype(np.float64).ravel())[0, 1]

arrays = {
    "spacing_xyz": SPACING_XYZ,
    "mask_a": a.astype(np.float64),
    "mask_b": b.astype(np.float64),
    "surface_a": sa.astype(np.float64),
    "edt_a": edt_a,
    "dice": np.array(dice),
    "hausdorff": np.array(hausdorff),
    "hd95": np.array(hd95),
    "msd": np.array(msd),
    "grid": grid,
    "det": det,
    "folding_pct": np.array(folding),
    "sdlogj": np.array(sdlogj),
    "img_w": img_w.astype(np.float64),
    "img_t": img_t.astype(np.float64),
    "mse": np.array(mse),
    "pearson_r": np.array(r),
}
with open(OUT, "w") as f:
    f.write("# voxflow eval metrics fixture: scripts/fixtures_metrics.py "
            "(numpy %s, scipy %s)\n" % (np.__version__, __import__("scipy").__version__))
    for name, v in arrays.items():
        v = np.asarray(v, dtype=np.float64)
        dims = ",".join(str(d) for d in v.shape)
        f.write(f"{name}\t{dims}\t" + " ".join("%.17g" % t for t in v.ravel()) + "\n")
print("wrote", OUT, "| dice %.4f hd %.4f hd95 %.4f msd %.4f folding %.3f%% sdlogj %.4f r %.4f"
      % (dice, hausdorff, hd95, msd, folding, sdlogj, r))
