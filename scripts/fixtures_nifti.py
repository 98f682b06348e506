"""NIfTI-1 fixtures from nibabel for voxflow's reader, and a check of files voxflow wrote.

    pip install nibabel numpy
    python3 scripts/fixtures_nifti.py            # writes tests/fixtures/nifti/*
    python3 scripts/fixtures_nifti.py --check D  # nibabel reads D/*.nii* written by voxflow

Generating writes small (5x4x3) images and tests/fixtures/nifti/expected.json holding, per
file, the shape, nibabel's affine (`img.affine`: sform if sform_code > 0, else qform), its
sform/qform codes, and the values (`get_fdata()`, scaling applied) flattened x-fastest
(Fortran order), which is voxflow's array order. CI never runs this script.

--check reads D/expected.json written by the ignored Rust test
`data::io::nifti::tests_fixtures::write_files_for_nibabel_check` (run by hand with
VOXFLOW_NIFTI_CHECK_DIR=D) and checks nibabel's view of each file: shape, values, and that
both sform and qform map the listed voxels to the listed RAS points; with SimpleITK installed
(`pip install SimpleITK`) also ITK's view (components, LPS positions), as ITK-SNAP would open it.
"""
import json
import os
import sys

import nibabel as nib
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nifti")
SHAPE = (5, 4, 3)


def rot(axis, angle):
    """Rotation matrix about `axis` by `angle` (Rodrigues)."""
    x, y, z = np.asarray(axis, float) / np.linalg.norm(axis)
    c, s = np.cos(angle), np.sin(angle)
    t = 1 - c
    return np.array([
        [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
        [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
        [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
    ])


def affine(r, zooms, offset):
    a = np.eye(4)
    a[:3, :3] = r @ np.diag(zooms)
    a[:3, 3] = offset
    return a


def entry(name):
    img = nib.load(os.path.join(OUT, name))
    hdr = img.header
    data = np.asarray(img.get_fdata())
    return {
        "name": name,
        "shape": [int(s) for s in img.shape],
        "affine": img.affine.tolist(),
        "sform_code": int(hdr["sform_code"]),
        "qform_code": int(hdr["qform_code"]),
        "big_endian": hdr.endianness == ">",
        "values": [float(v) for v in data.reshape(-1, order="F")],
    }


def generate():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    files = []

    # int16, oblique sheared sform (code 2) and a different qform (code 1): sform must win.
    data = rng.integers(-1000, 3000, SHAPE).astype(np.int16)
    sform = affine(rot([1, 2, 3], 0.4), [0.7, 0.8, 2.5], [-90.5, 20.25, -150.0])
    sform[0, 1] += 0.15  # shear
    img = nib.Nifti1Image(data, None)
    img.set_sform(sform, code=2)
    img.set_qform(affine(np.eye(3), [1, 1, 1], [1, 2, 3]), code=1)
    img.set_data_dtype(np.int16)
    nib.save(img, os.path.join(OUT, "int16_oblique_sform.nii"))
    files.append("int16_oblique_sform.nii")

    # float32 .nii.gz with only a qform: rotation with a flip (qfac = -1).
    data = rng.normal(0, 100, SHAPE).astype(np.float32)
    r = rot([0.3, -1, 0.5], 2.2) @ np.diag([1, 1, -1])
    img = nib.Nifti1Image(data, None)
    img.set_qform(affine(r, [1.25, 0.9, 3.0], [12.0, -40.0, 7.5]), code=1)
    img.set_sform(None, code=0)
    nib.save(img, os.path.join(OUT, "float32_qform_only.nii.gz"))
    files.append("float32_qform_only.nii.gz")

    # Big-endian int32 with an axis-aligned flipped sform.
    data = rng.integers(-100000, 100000, SHAPE).astype(np.int32)
    hdr = nib.Nifti1Header(endianness=">")
    img = nib.Nifti1Image(data, affine(np.diag([-1, 1, -1]), [0.6, 0.6, 1.2], [30, -20, 10]), hdr)
    img.set_data_dtype(">i4")
    path = os.path.join(OUT, "int32_big_endian.nii")
    nib.save(img, path)
    with open(path, "rb") as f:
        assert f.read(4) == b"\x00\x00\x01\x5c", "nibabel did not write big-endian"
    files.append("int32_big_endian.nii")

    # Float values stored as int16 with nibabel's scl_slope / scl_inter.
    data = rng.uniform(-3.0, 11.0, SHAPE)
    img = nib.Nifti1Image(data, affine(np.eye(3), [1, 2, 3], [0, 0, 0]))
    img.set_data_dtype(np.int16)
    nib.save(img, os.path.join(OUT, "int16_scaled.nii"))
    proxy = nib.load(os.path.join(OUT, "int16_scaled.nii")).dataobj
    slope, inter = proxy.slope, proxy.inter
    assert slope is not None and slope != 1.0, slope
    files.append("int16_scaled.nii")

    # uint8 4D with one time point, float64 .nii.gz.
    data = rng.integers(0, 255, SHAPE + (1,)).astype(np.uint8)
    nib.save(nib.Nifti1Image(data, affine(rot([0, 0, 1], 0.5), [2, 2, 2], [5, 5, 5])),
             os.path.join(OUT, "uint8_4d.nii"))
    files.append("uint8_4d.nii")
    data = rng.normal(0, 1, SHAPE)
    img = nib.Nifti1Image(data, affine(rot([1, 0, 0], -0.7), [0.5, 0.5, 0.5], [-1, -2, -3]))
    img.set_data_dtype(np.float64)
    nib.save(img, os.path.join(OUT, "float64.nii.gz"))
    files.append("float64.nii.gz")

    expected = {"files": [entry(n) for n in files]}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    for n in files + ["expected.json"]:
        print("wrote", n, os.path.getsize(os.path.join(OUT, n)), "bytes")


def check(d):
    with open(os.path.join(d, "expected.json")) as f:
        expected = json.load(f)
    bad = 0
    for e in expected["files"]:
        img = nib.load(os.path.join(d, e["name"]))
        hdr = img.header
        problems = []
        if list(img.shape) != e["shape"]:
            problems.append(f"shape {img.shape} != {e['shape']}")
        data = np.asarray(img.get_fdata()).reshape(-1, order="F")
        if not np.allclose(data, e["values"], rtol=0, atol=1e-5):
            problems.append("values differ")
        ijk = np.array(e["voxels"], float)
        want = np.array(e["ras"], float)
        for kind, aff in [("sform", hdr.get_sform()), ("qform", hdr.get_qform()),
                          ("affine", img.affine)]:
            got = (aff[:3, :3] @ ijk.T).T + aff[:3, 3]
            err = np.abs(got - want).max()
            if err > 1e-3:
                problems.append(f"{kind} off by {err:.3g} mm")
        codes = (int(hdr["sform_code"]), int(hdr["qform_code"]))
        intent = hdr.get_intent()[0]
        if e.get("intent") and intent != e["intent"]:
            problems.append(f"intent {intent} != {e['intent']}")
        print(f"{e['name']}: shape {img.shape}, dtype {hdr.get_data_dtype()}, codes {codes}, "
              f"intent {intent}, units {hdr.get_xyzt_units()}: "
              + ("OK" if not problems else "; ".join(problems)))
        bad += bool(problems)
        bad += check_itk(d, e)
    sys.exit(1 if bad else 0)


def check_itk(d, e):
    """If SimpleITK is installed (`pip install SimpleITK`), checks ITK's view too (as ITK-SNAP
    sees the file): components, and the LPS positions of the listed voxels."""
    try:
        import SimpleITK as sitk
    except ImportError:
        return 0
    img = sitk.ReadImage(os.path.join(d, e["name"]))
    comps = e["shape"][4] if len(e["shape"]) == 5 else 1
    problems = []
    if img.GetNumberOfComponentsPerPixel() != comps or list(img.GetSize()) != e["shape"][:3]:
        problems.append(f"size {img.GetSize()} x {img.GetNumberOfComponentsPerPixel()}")
    for ijk, (r, a, s) in zip(e["voxels"], e["ras"]):
        p = img.TransformContinuousIndexToPhysicalPoint([float(v) for v in ijk])
        if np.abs(np.array(p) - [-r, -a, s]).max() > 1e-3:
            problems.append(f"voxel {ijk} at LPS {p}, expected {[-r, -a, s]}")
    print(f"  SimpleITK {e['name']}: size {img.GetSize()}, "
          f"{img.GetNumberOfComponentsPerPixel()} components: "
          + ("OK" if not problems else "; ".join(problems[:2])))
    return int(bool(problems))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        generate()
