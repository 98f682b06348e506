//! Event file tests: framing and CRCs, writer/reader round trip, corruption and truncation
//! errors, and byte equality with TensorBoard's own Python writer.

use super::record::masked_crc32c;
use super::writer::EventWriter;
use super::{FILE_VERSION, ImageSummary, read_events, read_records};
use crate::report::ReportError;
use crate::testutil::TempDir;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tensorboard")
        .join(name)
}

#[test]
fn masked_crc_matches_tensorboard() {
    // Values from tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
    assert_eq!(masked_crc32c(b""), 0xa282_ead8);
    assert_eq!(masked_crc32c(&[0u8; 8]), 0x0798_0329);
}

#[test]
fn file_name_and_first_event() {
    let tmp = TempDir::new("first");
    let dir = tmp.0.clone();
    let w = EventWriter::create(&dir).unwrap();
    let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
    let parts: Vec<&str> = name.splitn(4, '.').collect();
    assert_eq!(&parts[..3], ["events", "out", "tfevents"]);
    assert!(
        name.ends_with(&format!(".{}", std::process::id())),
        "{name}"
    );
    let secs: u64 = name["events.out.tfevents.".len()..][..10].parse().unwrap();
    let ev = read_events(w.path()).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].file_version.as_deref(), Some(FILE_VERSION));
    assert_eq!(ev[0].step, 0);
    assert_eq!(ev[0].wall_time as u64, secs);
    // A second writer in the same second never reuses (overwrites) the first file.
    let w2 = EventWriter::create_with_time(&dir, Some(secs as f64 + 0.5)).unwrap();
    assert_ne!(w2.path(), w.path());
    assert_eq!(read_events(w.path()).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn round_trip_scalars_and_image() {
    let tmp = TempDir::new("roundtrip");
    let dir = tmp.0.clone();
    let png = std::fs::read(fixture("tiny.png")).unwrap();
    let path = {
        let mut w = EventWriter::create_with_time(&dir, Some(1.0e9)).unwrap();
        w.set_wall_time(Some(1.0e9 + 1.0));
        w.add_scalar("loss", 1, 0.5).unwrap();
        w.add_scalars(2, &[("loss", 0.25f32), ("dice", -3.0)])
            .unwrap();
        w.set_wall_time(Some(1.0e9 + 2.0));
        w.add_scalars(70_000, &[(String::from("lr"), 1e-4f32)])
            .unwrap();
        w.add_image("obs/src", 3, &png, 3, 2, 3).unwrap();
        w.flush().unwrap();
        w.path().to_path_buf()
    };
    // Both CRCs of every record are checked by the reader.
    assert_eq!(read_records(&path).unwrap().len(), 5);
    let ev = read_events(&path).unwrap();
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[0].wall_time, 1.0e9);
    assert_eq!(ev[1].wall_time, 1.0e9 + 1.0);
    assert_eq!(
        (ev[1].step, ev[1].scalars.clone()),
        (1, vec![("loss".into(), 0.5)])
    );
    assert_eq!(ev[2].step, 2);
    assert_eq!(
        ev[2].scalars,
        vec![("loss".into(), 0.25), ("dice".into(), -3.0)]
    );
    assert_eq!((ev[3].step, ev[3].wall_time), (70_000, 1.0e9 + 2.0));
    assert_eq!(ev[3].scalars, vec![("lr".into(), 1e-4)]);
    assert!(ev[1..].iter().all(|e| e.file_version.is_none()));
    let img = ImageSummary {
        tag: "obs/src".into(),
        width: 3,
        height: 2,
        channels: 3,
        png: png.clone(),
    };
    assert_eq!(ev[4].images, vec![img]);
    assert!(ev[4].scalars.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_are_errors() {
    let tmp = TempDir::new("badargs");
    let dir = tmp.0.clone();
    let mut w = EventWriter::create(&dir).unwrap();
    assert!(matches!(
        w.add_scalar("", 1, 1.0),
        Err(ReportError::Invalid(_))
    ));
    assert!(matches!(
        w.add_image("x", 1, &[1, 2], 1, 1, 5),
        Err(ReportError::Invalid(_))
    ));
    assert!(matches!(
        w.add_image("x", 1, &[1], u32::MAX, 1, 3),
        Err(ReportError::Invalid(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes a file of four events and returns its path and bytes.
fn small_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut w = EventWriter::create_with_time(dir, Some(5.0)).unwrap();
    for step in 1..4 {
        w.add_scalar("loss", step, step as f32).unwrap();
    }
    w.flush().unwrap();
    let path = w.path().to_path_buf();
    drop(w);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// The byte offset where record `i` starts in `bytes`.
fn record_offset(bytes: &[u8], i: usize) -> usize {
    let mut pos = 0;
    for _ in 0..i {
        let len = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap()) as usize;
        pos += 16 + len;
    }
    pos
}

fn corrupt_record(err: ReportError) -> (usize, String) {
    match err {
        ReportError::Corrupt { record, msg, .. } => (record, msg),
        other => panic!("expected a Corrupt error, got {other:?}"),
    }
}

#[test]
fn corrupted_byte_names_the_record() {
    let tmp = TempDir::new("corrupt");
    let dir = tmp.0.clone();
    let (path, bytes) = small_file(&dir);
    // A byte in the data of record 2.
    let mut bad = bytes.clone();
    bad[record_offset(&bytes, 2) + 14] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    let err = read_events(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    let (record, msg) = corrupt_record(err);
    assert_eq!(record, 2);
    assert!(msg.contains("data CRC mismatch"), "{msg}");
    // A byte in the length of record 3.
    let mut bad = bytes.clone();
    bad[record_offset(&bytes, 3)] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();
    let (record, msg) = corrupt_record(read_events(&path).unwrap_err());
    assert_eq!(record, 3);
    assert!(msg.contains("length CRC mismatch"), "{msg}");
    // A flipped bit in the stored data CRC of record 0.
    let mut bad = bytes.clone();
    let end0 = record_offset(&bytes, 1) - 1;
    bad[end0] ^= 0x80;
    std::fs::write(&path, &bad).unwrap();
    assert_eq!(corrupt_record(read_events(&path).unwrap_err()).0, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_file_is_an_error() {
    let tmp = TempDir::new("truncated");
    let dir = tmp.0.clone();
    let (path, bytes) = small_file(&dir);
    let last = record_offset(&bytes, 3);
    // Cut inside the header, inside the data, and just before the final CRC of record 3.
    for cut in [last + 5, last + 14, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (record, msg) = corrupt_record(read_events(&path).unwrap_err());
        assert_eq!(record, 3, "cut at {cut}");
        assert!(msg.contains("truncated"), "{msg}");
    }
    // Whole records only: fine.
    std::fs::write(&path, &bytes[..last]).unwrap();
    assert_eq!(read_events(&path).unwrap().len(), 3);
    // A missing file names the file.
    let missing = dir.join("nope.tfevents");
    assert!(matches!(read_events(&missing), Err(ReportError::Io(e)) if e.path == missing));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes with our writer the events `scripts/fixtures_tensorboard.py` wrote with
/// TensorBoard's Python `EventFileWriter`, returning the records' data.
fn ours_like_python(dir: &Path) -> Vec<Vec<u8>> {
    let png = std::fs::read(fixture("tiny.png")).unwrap();
    let mut w = EventWriter::create_with_time(dir, Some(1700000000.75)).unwrap();
    w.set_wall_time(Some(1700000001.5));
    w.add_scalar("train/loss", 0, 0.0).unwrap();
    w.set_wall_time(Some(1700000002.25));
    w.add_scalars(1, &[("train/loss", 0.75), ("val/dice", 0.5)])
        .unwrap();
    w.set_wall_time(Some(1700000003.0));
    w.add_scalar("lr", 300, -1.5e-4).unwrap();
    w.set_wall_time(Some(1700000004.125));
    w.add_image("obs/overview", 2, &png, 3, 2, 3).unwrap();
    w.flush().unwrap();
    read_records(w.path()).unwrap()
}

#[test]
fn matches_tensorboard_python_writer_bytes() {
    // Generated by `python3 scripts/fixtures_tensorboard.py` (TensorBoard 2.21's
    // EventFileWriter with its clock pinned; protobuf 7 serializer).
    let tmp = TempDir::new("golden");
    let dir = tmp.0.clone();
    let ours = ours_like_python(&dir);
    let theirs = read_records(&fixture("python.tfevents")).unwrap();
    assert_eq!(ours.len(), theirs.len());
    // Every summary event is identical byte for byte (and so is its framing, since the
    // frame is a function of the data).
    for i in 1..ours.len() {
        assert_eq!(ours[i], theirs[i], "record {i}");
    }
    // The first event differs only by the `source_metadata` (field 10) that the Python writer
    // appends to name itself: our bytes are an exact prefix, the rest is that one field.
    let extra = &theirs[0][ours[0].len()..];
    assert!(theirs[0].starts_with(&ours[0]));
    let writer = b"tensorboard.summary.writer.event_file_writer";
    let mut expected = vec![0x52, writer.len() as u8 + 2, 0x0a, writer.len() as u8];
    expected.extend_from_slice(writer);
    assert_eq!(extra, &expected[..]);
    // The whole file, framing included: ours with the same first event would be identical.
    let mut ours_file = Vec::new();
    for (i, r) in ours.iter().enumerate() {
        super::record::frame(&mut ours_file, if i == 0 { &theirs[0] } else { r });
    }
    assert_eq!(
        ours_file,
        std::fs::read(fixture("python.tfevents")).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_python_written_file() {
    let ev = read_events(&fixture("python.tfevents")).unwrap();
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[0].file_version.as_deref(), Some("brain.Event:2"));
    assert_eq!(ev[0].wall_time, 1700000000.75);
    assert_eq!((ev[1].step, ev[1].wall_time), (0, 1700000001.5));
    assert_eq!(ev[1].scalars, vec![("train/loss".into(), 0.0)]);
    assert_eq!(ev[2].step, 1);
    assert_eq!(
        ev[2].scalars,
        vec![("train/loss".into(), 0.75), ("val/dice".into(), 0.5)]
    );
    assert_eq!((ev[3].step, ev[3].wall_time), (300, 1700000003.0));
    assert_eq!(ev[3].scalars, vec![("lr".into(), -1.5e-4)]);
    let img = &ev[4].images[0];
    assert_eq!(
        (img.tag.as_str(), img.width, img.height, img.channels),
        ("obs/overview", 3, 2, 3)
    );
    assert_eq!(img.png, std::fs::read(fixture("tiny.png")).unwrap());
}

#[test]
fn events_past_a_resume_point_are_dropped_on_their_own_step_scale() {
    use super::{ResumePoint, drop_events_after};
    let tmp = TempDir::new("prune");
    let dir = tmp.0.clone();
    let png = std::fs::read(fixture("tiny.png")).unwrap();
    // Two runs' files: epochs 1-3 (3 steps each) and an untouched earlier one.
    let early = {
        let mut w = EventWriter::create_with_time(&dir, Some(1.0e9)).unwrap();
        w.add_scalar("loss", 1, 9.0).unwrap();
        w.flush().unwrap();
        w.path().to_path_buf()
    };
    let early_bytes = std::fs::read(&early).unwrap();
    let path = {
        let mut w = EventWriter::create_with_time(&dir, Some(1.0e9)).unwrap();
        for epoch in 1..=3i64 {
            for s in 1..=3 {
                let step = (epoch - 1) * 3 + s;
                w.add_scalars(step, &[("step/loss", step as f32), ("step/mse", 0.5)])
                    .unwrap();
            }
            w.add_scalars(epoch, &[("loss", epoch as f32), ("val_loss", 1.0)])
                .unwrap();
            w.add_image("observation", epoch, &png, 3, 2, 3).unwrap();
        }
        w.flush().unwrap();
        w.path().to_path_buf()
    };
    // The new run's own file is never touched.
    let mine = {
        let mut w = EventWriter::create_with_time(&dir, Some(2.0e9)).unwrap();
        w.add_scalar("step/loss", 7, 1.0).unwrap();
        w.flush().unwrap();
        w.path().to_path_buf()
    };
    let mine_bytes = std::fs::read(&mine).unwrap();
    // Resuming after epoch 1 and 2 steps of epoch 2.
    let pruned = drop_events_after(&dir, ResumePoint { epoch: 1, step: 5 }, &mine).unwrap();
    assert_eq!(pruned.dropped, (9 - 5) + 2 + 2);
    assert!(pruned.unreadable.is_empty());
    let ev = read_events(&path).unwrap();
    assert_eq!(ev[0].file_version.as_deref(), Some(FILE_VERSION));
    let steps = |pick: fn(&super::Event) -> bool| -> Vec<i64> {
        ev.iter().filter(|e| pick(e)).map(|e| e.step).collect()
    };
    assert_eq!(
        steps(|e| e.scalars.iter().any(|(t, _)| t == "step/loss")),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(steps(|e| e.scalars.iter().any(|(t, _)| t == "loss")), [1]);
    assert_eq!(steps(|e| !e.images.is_empty()), [1]);
    // The earlier run's file was within the point: not rewritten. Nothing left to drop now.
    assert_eq!(std::fs::read(&early).unwrap(), early_bytes);
    let again = drop_events_after(&dir, ResumePoint { epoch: 1, step: 5 }, &mine).unwrap();
    assert_eq!(again.dropped, 0);
    // A damaged file is reported and left alone; a fresh start drops every summary.
    let (bad, mut bytes) = small_file(&dir);
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&bad, &bytes).unwrap();
    let fresh = drop_events_after(&dir, ResumePoint { epoch: 0, step: 0 }, &mine).unwrap();
    assert_eq!(fresh.unreadable.len(), 1, "{:?}", fresh.unreadable);
    assert!(
        fresh.unreadable[0].contains("CRC"),
        "{:?}",
        fresh.unreadable
    );
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);
    assert_eq!(read_events(&path).unwrap().len(), 1);
    assert_eq!(read_events(&early).unwrap().len(), 1);
    // A torn last record (a write cut short): the intact records are pruned, the tear goes.
    let torn = {
        let mut w = EventWriter::create_with_time(&dir, Some(3.0e9)).unwrap();
        for step in 1..=4 {
            w.add_scalar("loss", step, step as f32).unwrap();
        }
        w.flush().unwrap();
        w.path().to_path_buf()
    };
    let full = std::fs::read(&torn).unwrap();
    // Cut short, or with its end zero-filled (a crash's unwritten tail): the same.
    let zeroed = [&full[..full.len() - 20], &[0u8; 20][..]].concat();
    for damaged in [full[..full.len() - 5].to_vec(), zeroed] {
        std::fs::write(&torn, &damaged).unwrap();
        let cut = drop_events_after(&dir, ResumePoint { epoch: 2, step: 0 }, &mine).unwrap();
        assert_eq!(
            (cut.dropped, cut.torn),
            (1, 1),
            "epoch 3, and the torn epoch 4"
        );
        let steps: Vec<i64> = read_events(&torn).unwrap().iter().map(|e| e.step).collect();
        assert_eq!(steps, [0, 1, 2]);
    }
    std::fs::remove_file(&torn).unwrap();
    assert_eq!(std::fs::read(&mine).unwrap(), mine_bytes);
    assert!(
        std::fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tmp")),
        "no temporary file left"
    );
    // No directory: nothing to do.
    assert_eq!(
        drop_events_after(&dir.join("none"), ResumePoint { epoch: 0, step: 0 }, &mine).unwrap(),
        Default::default()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
