"""Writes MetaImage fixtures with SimpleITK for voxflow's reader tests
(src/data/io/metaimage/tests/fixtures.rs).

    pip install SimpleITK numpy && python3 scripts/fixtures_metaimage.py

Writes tiny volumes (5x4x3 voxels) under tests/fixtures/metaimage/ and `expected.json` holding,
for each, what SimpleITK reports when it reads the file back: size (x, y, z), spacing, origin,
direction (row-major 3x3, column a = direction of image axis a), the values in array order
(z, y, x) and a few continuous index -> physical point pairs from
TransformContinuousIndexToPhysicalPoint. CI never runs this script.
"""
import json
import math
import os

import numpy as np
import SimpleITK as sitk

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metaimage")


def rotation(axis, angle):
    """Row-major 3x3 rotation about a unit `axis` (Rodrigues)."""
    x, y, z = np.asarray(axis, float) / np.linalg.norm(axis)
    c, s, t = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    return (
        t * x * x + c, t * x * y - s * z, t * x * z + s * y,
        t * x * y + s * z, t * y * y + c, t * y * z - s * x,
        t * x * z - s * y, t * y * z + s * x, t * z * z + c,
    )


def values(dtype, rng):
    """5x4x3 test values in array order (z, y, x) that fit `dtype`."""
    if np.issubdtype(dtype, np.floating):
        return rng.normal(0.0, 300.0, (3, 4, 5)).astype(dtype)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -1200), min(info.max, 3000)
    return rng.integers(lo, hi, (3, 4, 5), endpoint=True).astype(dtype)


CASES = [
    # name, file, dtype, compress, spacing, origin, direction
    ("int16", "int16.mhd", np.int16, False, (0.7, 0.8, 2.5), (-120.5, 33.25, -310.0), None),
    ("uint8_zraw", "uint8_zraw.mhd", np.uint8, True, (1.5, 1.0, 0.5), (10.0, -20.0, 30.0), None),
    ("float32_mha", "float32.mha", np.float32, False, (0.6, 0.6, 1.25), (-5.0, 6.0, -7.5), None),
    ("int32_zmha", "int32_z.mha", np.int32, True, (1.0, 2.0, 3.0), (1.0, 2.0, 3.0), None),
    ("rotated", "rotated.mhd", np.float64, False, (0.9, 1.1, 2.0), (12.0, -7.0, 101.5),
     rotation((1.0, 2.0, 3.0), 0.7)),
    # LUNA16-like: x and y flipped, anisotropic spacing, non-zero offset.
    ("luna", "luna.mhd", np.int16, False, (0.703125, 0.703125, 2.5), (180.0, 165.5, -335.75),
     (-1, 0, 0, 0, -1, 0, 0, 0, 1)),
]

POINTS = [(0.0, 0.0, 0.0), (4.0, 3.0, 2.0), (2.5, 1.25, 1.0), (-1.0, 7.5, 0.3)]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    expected = {}
    for name, fname, dtype, compress, spacing, origin, direction in CASES:
        img = sitk.GetImageFromArray(values(dtype, rng))
        img.SetSpacing(spacing)
        img.SetOrigin(origin)
        if direction is not None:
            img.SetDirection(direction)
        path = os.path.join(OUT, fname)
        sitk.WriteImage(img, path, useCompression=compress)
        back = sitk.ReadImage(path)
        expected[name] = {
            "file": fname,
            "size": list(back.GetSize()),
            "spacing": list(back.GetSpacing()),
            "origin": list(back.GetOrigin()),
            "direction": list(back.GetDirection()),
            "values": [float(v) for v in sitk.GetArrayFromImage(back).reshape(-1)],
            "points": [
                {"index": list(p), "world": list(back.TransformContinuousIndexToPhysicalPoint(p))}
                for p in POINTS
            ],
        }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
