//! Reading event files: every record's two CRCs are checked, then each record is decoded as
//! an `Event`. Used by tests and by `voxflow inspect`.

use super::proto::{Fields, Wire};
use super::record::split_records;
use super::{Event, ImageSummary};
use crate::report::ReportError;
use std::path::Path;

/// Reads every event of the file at `path`. A CRC mismatch, a truncated record or a message
/// that is not valid protobuf is an error naming the file and the record index.
pub fn read_events(path: &Path) -> Result<Vec<Event>, ReportError> {
    let bytes = std::fs::read(path).map_err(|e| ReportError::io(path, e))?;
    let records = split_records(path, &bytes)?;
    records
        .iter()
        .enumerate()
        .map(|(i, data)| {
            decode_event(data).map_err(|msg| ReportError::Corrupt {
                path: path.to_path_buf(),
                record: i,
                msg: format!("bad Event message: {msg}"),
            })
        })
        .collect()
}

/// The raw data (serialized `Event`s) of every record of the file at `path`, both CRCs of
/// each checked; errors as for [`read_events`].
pub fn read_records(path: &Path) -> Result<Vec<Vec<u8>>, ReportError> {
    let bytes = std::fs::read(path).map_err(|e| ReportError::io(path, e))?;
    Ok(split_records(path, &bytes)?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect())
}

/// Decodes one serialized `Event`.
pub(super) fn decode_event(data: &[u8]) -> Result<Event, String> {
    let mut ev = Event::default();
    for field in Fields::new(data) {
        match field? {
            (1, w) => ev.wall_time = w.double("Event.wall_time")?,
            (2, w) => ev.step = w.int("Event.step")?,
            (3, w) => ev.file_version = Some(w.string("Event.file_version")?),
            (5, w) => decode_summary(w.bytes("Event.summary")?, &mut ev)?,
            _ => {}
        }
    }
    Ok(ev)
}

/// Decodes a `Summary`, appending its scalar and image values to `ev`.
fn decode_summary(data: &[u8], ev: &mut Event) -> Result<(), String> {
    for field in Fields::new(data) {
        if let (1, w) = field? {
            decode_value(w.bytes("Summary.value")?, ev)?;
        }
    }
    Ok(())
}

/// Decodes one `Summary.Value`; values that are neither scalars nor images are skipped.
fn decode_value(data: &[u8], ev: &mut Event) -> Result<(), String> {
    let mut tag = String::new();
    let mut scalar = None;
    let mut image = None;
    for field in Fields::new(data) {
        match field? {
            (1, w) => tag = w.string("Value.tag")?,
            (2, w) => scalar = Some(w.float("Value.simple_value")?),
            (4, w) => image = Some(decode_image(w.bytes("Value.image")?)?),
            _ => {}
        }
    }
    if let Some(v) = scalar {
        ev.scalars.push((tag, v));
    } else if let Some(mut img) = image {
        img.tag = tag;
        ev.images.push(img);
    }
    Ok(())
}

fn dim(w: Wire<'_>, what: &str) -> Result<u32, String> {
    let v = w.int(what)? as i32;
    u32::try_from(v).map_err(|_| format!("{what} is negative ({v})"))
}

/// Decodes a `Summary.Image`.
fn decode_image(data: &[u8]) -> Result<ImageSummary, String> {
    let mut img = ImageSummary::default();
    for field in Fields::new(data) {
        match field? {
            (1, w) => img.height = dim(w, "Image.height")?,
            (2, w) => img.width = dim(w, "Image.width")?,
            (3, w) => img.channels = dim(w, "Image.colorspace")?,
            (4, w) => img.png = w.bytes("Image.encoded_image_string")?.to_vec(),
            _ => {}
        }
    }
    Ok(img)
}
