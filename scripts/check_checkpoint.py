#!/usr/bin/env python3
"""Opens a voxflow checkpoint (chkpt_XX.safetensors) with Python's `safetensors` and prints its
metadata and every tensor's name, dtype and shape, checking that the data checksum recorded by
voxflow (`data_crc32c`, CRC-32C of every tensor's bytes in name order) matches.

    pip install safetensors numpy
    python3 scripts/check_checkpoint.py sessions/NAME/checkpoints/chkpt_01.safetensors

A sample file comes from the Rust tests:
    VOXFLOW_CHECKPOINT_SAMPLE=/tmp/sample.safetensors \
        cargo test --lib session::tests::checkpoint_round_trip
Not run by CI.
"""

import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), bitwise; fine for checkpoint-sized files."""
    table = crc32c.table
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


crc32c.table = _table()


def main(path: str) -> int:
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    print(f"{path}: {len(tensors)} tensors")
    for key in sorted(meta):
        print(f"  meta {key} = {meta[key]}")
    total = 0
    crc = 0
    for name in sorted(tensors):
        a = tensors[name]
        assert a.dtype == np.float32, (name, a.dtype)
        print(f"  {name:40s} {str(a.dtype):8s} {list(a.shape)}  mean {a.mean():+.6g}")
        if not name.startswith("optimizer."):
            total += a.size
        crc = crc32c(a.astype("<f4").tobytes(), crc)
    print(f"model scalars: {total} (metadata params.total = {meta.get('params.total')})")
    ok = f"{crc:08x}" == meta.get("data_crc32c")
    print(f"data_crc32c: computed {crc:08x}, recorded {meta.get('data_crc32c')}: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
