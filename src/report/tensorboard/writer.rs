//! [`EventWriter`]: appends events to a new event file in a log directory.

use super::FILE_VERSION;
use super::proto::{put_bytes, put_double, put_float, put_int};
use super::record::frame;
use crate::report::ReportError;
use crate::report::png::{Raster, encode_png};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes TensorBoard events to `<dir>/events.out.tfevents.<unix secs>.<host>.<pid>`.
///
/// Each `add_*` call appends one event (buffered); [`EventWriter::flush`] pushes them to the
/// file (the trainer flushes once per epoch); dropping the writer flushes too (ignoring
/// errors, so call `flush` to see them). A resumed
/// run opens a new writer on the same directory: that makes a new file, which TensorBoard
/// reads together with the earlier ones.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// Tests pin the wall time so files can be compared byte for byte.
    fixed_time: Option<f64>,
}

/// The host name for file names: `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else
/// "voxflow"; characters other than `[A-Za-z0-9._-]` are dropped.
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if clean.is_empty() {
        "voxflow".into()
    } else {
        clean
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn check_tag(tag: &str) -> Result<(), ReportError> {
    if tag.is_empty() {
        return Err(ReportError::Invalid(
            "TensorBoard summary tag is empty".into(),
        ));
    }
    Ok(())
}

/// Encodes an `Event` with the given `what` field (number, bytes) in field-number order,
/// leaving out a zero wall time and a zero step as proto3 serializers do.
fn encode_event(wall_time: f64, step: i64, what_field: u32, what: &[u8]) -> Vec<u8> {
    let mut ev = Vec::with_capacity(what.len() + 24);
    if wall_time.to_bits() != 0 {
        put_double(&mut ev, 1, wall_time);
    }
    if step != 0 {
        put_int(&mut ev, 2, step);
    }
    put_bytes(&mut ev, what_field, what);
    ev
}

impl EventWriter {
    /// Creates `dir` if needed and a new event file in it (never an existing one: a name
    /// already taken gets a `.1`, `.2`, ... suffix), and writes the `file_version` event.
    pub fn create(dir: &Path) -> Result<EventWriter, ReportError> {
        Self::create_with_time(dir, None)
    }

    /// [`EventWriter::create`] with every event's wall time pinned to `fixed_time` (tests).
    pub(crate) fn create_with_time(
        dir: &Path,
        fixed_time: Option<f64>,
    ) -> Result<EventWriter, ReportError> {
        std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
        let t = fixed_time.unwrap_or_else(now);
        let base = format!(
            "events.out.tfevents.{:010}.{}.{}",
            t as u64,
            hostname(),
            std::process::id()
        );
        let mut n = 0usize;
        let (path, file) = loop {
            let name = if n == 0 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(ReportError::io(&path, e)),
            }
        };
        let mut w = EventWriter {
            path,
            out: BufWriter::new(file),
            fixed_time,
        };
        let first = encode_event(t, 0, 3, FILE_VERSION.as_bytes());
        w.write_record(&first)?;
        w.flush()?;
        Ok(w)
    }

    /// Pins (or, with `None`, unpins) the wall time of the events written from now on.
    #[cfg(test)]
    pub(crate) fn set_wall_time(&mut self, t: Option<f64>) {
        self.fixed_time = t;
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_record(&mut self, data: &[u8]) -> Result<(), ReportError> {
        let mut rec = Vec::with_capacity(data.len() + 16);
        frame(&mut rec, data);
        self.out
            .write_all(&rec)
            .map_err(|e| ReportError::io(&self.path, e))
    }

    /// Appends one event at `step` holding the summary values given as encoded `Value`s.
    fn write_summary(&mut self, step: i64, values: &[Vec<u8>]) -> Result<(), ReportError> {
        let mut summary = Vec::new();
        for v in values {
            put_bytes(&mut summary, 1, v);
        }
        let t = self.fixed_time.unwrap_or_else(now);
        let ev = encode_event(t, step, 5, &summary);
        self.write_record(&ev)
    }

    /// Appends one event with the scalar `value` under `tag` at `step`.
    pub fn add_scalar(&mut self, tag: &str, step: i64, value: f32) -> Result<(), ReportError> {
        self.add_scalars(step, &[(tag, value)])
    }

    /// Appends one event holding every `(tag, value)` scalar at `step`.
    pub fn add_scalars<S: AsRef<str>>(
        &mut self,
        step: i64,
        values: &[(S, f32)],
    ) -> Result<(), ReportError> {
        let mut encoded = Vec::with_capacity(values.len());
        for (tag, value) in values {
            let tag = tag.as_ref();
            check_tag(tag)?;
            let mut v = Vec::with_capacity(tag.len() + 8);
            put_bytes(&mut v, 1, tag.as_bytes());
            put_float(&mut v, 2, *value);
            encoded.push(v);
        }
        self.write_summary(step, &encoded)
    }

    /// Appends one event with an encoded image (PNG bytes) of `width` × `height` pixels and
    /// `channels` channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) under `tag` at `step`.
    pub fn add_image(
        &mut self,
        tag: &str,
        step: i64,
        png: &[u8],
        width: u32,
        height: u32,
        channels: u32,
    ) -> Result<(), ReportError> {
        check_tag(tag)?;
        if !(1..=4).contains(&channels) {
            return Err(ReportError::Invalid(format!(
                "TensorBoard image `{tag}`: {channels} channels, expected 1 to 4"
            )));
        }
        let (Ok(w), Ok(h)) = (i32::try_from(width), i32::try_from(height)) else {
            return Err(ReportError::Invalid(format!(
                "TensorBoard image `{tag}`: size {width}x{height} too large"
            )));
        };
        let mut img = Vec::with_capacity(png.len() + 24);
        for (field, x) in [(1, h), (2, w), (3, channels as i32)] {
            if x != 0 {
                put_int(&mut img, field, i64::from(x));
            }
        }
        if !png.is_empty() {
            put_bytes(&mut img, 4, png);
        }
        let mut v = Vec::with_capacity(img.len() + tag.len() + 8);
        put_bytes(&mut v, 1, tag.as_bytes());
        put_bytes(&mut v, 4, &img);
        self.write_summary(step, &[v])
    }

    /// Encodes `img` as PNG and appends it with [`EventWriter::add_image`].
    pub fn add_raster<I: Raster>(
        &mut self,
        tag: &str,
        step: i64,
        img: &I,
    ) -> Result<(), ReportError> {
        let png = encode_png(img)?;
        let too_big = |_| ReportError::Invalid(format!("TensorBoard image `{tag}` too large"));
        let w = u32::try_from(img.width()).map_err(too_big)?;
        let h = u32::try_from(img.height()).map_err(too_big)?;
        self.add_image(tag, step, &png, w, h, img.channels() as u32)
    }

    /// Pushes buffered events to the file.
    pub fn flush(&mut self) -> Result<(), ReportError> {
        self.out.flush().map_err(|e| ReportError::io(&self.path, e))
    }
}
