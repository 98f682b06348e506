"""Writes the golden TensorBoard event file for voxflow's event writer/reader tests.

Run (not by CI):   pip install tensorboard && python3 scripts/fixtures_tensorboard.py

It uses TensorBoard's own Python writer (`EventFileWriter`, which frames records with
`RecordWriter` and serializes `tensorboard.compat.proto` messages) with the clock pinned, so
the file is the same on every run. Output, under tests/fixtures/tensorboard/:
  tiny.png          a 3x2 RGB PNG (written here with zlib, byte-exact on every run)
  python.tfevents   the events below (src/report/tensorboard/tests.rs mirrors this list)

  record 0: wall_time=START, file_version="brain.Event:2", source_metadata.writer=...
  record 1: wall_time=1700000001.5, step=0, scalar "train/loss" = 0.0
  record 2: wall_time=1700000002.25, step=1, scalars "train/loss" = 0.75, "val/dice" = 0.5
  record 3: wall_time=1700000003.0, step=300, scalar "lr" = -1.5e-4
  record 4: wall_time=1700000004.125, step=2, image "obs/overview" = tiny.png (w 3, h 2, 3 ch)
"""
import glob
import os
import shutil
import struct
import tempfile
import zlib

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer import event_file_writer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tensorboard")
START = 1700000000.75


def tiny_png():
    """A 3x2 RGB PNG: red green blue / white gray black."""
    rows = [bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]), bytes([255, 255, 255, 128, 128, 128, 0, 0, 0])]
    raw = b"".join(b"\x00" + r for r in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def scalars(wall_time, step, values):
    vals = [summary_pb2.Summary.Value(tag=t, simple_value=v) for t, v in values]
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=vals))


def main():
    png = tiny_png()
    events = [
        scalars(1700000001.5, 0, [("train/loss", 0.0)]),
        scalars(1700000002.25, 1, [("train/loss", 0.75), ("val/dice", 0.5)]),
        scalars(1700000003.0, 300, [("lr", -1.5e-4)]),
        event_pb2.Event(
            wall_time=1700000004.125,
            step=2,
            summary=summary_pb2.Summary(
                value=[
                    summary_pb2.Summary.Value(
                        tag="obs/overview",
                        image=summary_pb2.Summary.Image(height=2, width=3, colorspace=3, encoded_image_string=png),
                    )
                ]
            ),
        ),
    ]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "tiny.png"), "wb") as f:
        f.write(png)
    real_time = event_file_writer.time.time
    with tempfile.TemporaryDirectory() as logdir:
        # Pin the clock for the first (file_version) event the writer makes on its own.
        event_file_writer.time.time = lambda: START
        try:
            writer = event_file_writer.EventFileWriter(logdir)
            for ev in events:
                writer.add_event(ev)
            writer.close()
        finally:
            event_file_writer.time.time = real_time
        (path,) = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
        shutil.copyfile(path, os.path.join(OUT, "python.tfevents"))
    print("wrote", os.path.join(OUT, "python.tfevents"), "and tiny.png")


if __name__ == "__main__":
    main()
