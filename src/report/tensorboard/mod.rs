//! TensorBoard event files written and read by hand, with no protobuf library.
//!
//! An event file (`events.out.tfevents.<secs>.<host>.<pid>`) is a sequence of TFRecord
//! records ([`record`]), each one serialized `Event` message:
//!
//! ```text
//! Event   { double wall_time = 1; int64 step = 2;
//!           oneof what { string file_version = 3; Summary summary = 5; } }
//! Summary { repeated Value value = 1; }
//! Value   { string tag = 1; oneof value { float simple_value = 2; Image image = 4; } }
//! Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3;
//!           bytes encoded_image_string = 4; }
//! ```
//!
//! The first event of a file carries `file_version = "brain.Event:2"`. [`EventWriter`]
//! writes these messages byte for byte as TensorBoard's own Python writer does (checked
//! against a fixture it wrote); [`read_events`] checks every CRC and decodes them, skipping
//! fields it does not know (such as `source_metadata`, field 10, of newer writers).

mod proto;
mod prune;
mod reader;
pub mod record;
mod writer;

pub use prune::{Pruned, ResumePoint, STEP_TAG_PREFIX, drop_events_after};
pub use reader::{read_events, read_records};
pub use writer::EventWriter;

/// The `file_version` of the first event of every file.
pub const FILE_VERSION: &str = "brain.Event:2";

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// Seconds since the Unix epoch when the event was written.
    pub wall_time: f64,
    /// The step (voxflow writes the epoch number).
    pub step: i64,
    /// Set on the first event of a file.
    pub file_version: Option<String>,
    /// Scalar summaries `(tag, value)`, in file order.
    pub scalars: Vec<(String, f32)>,
    /// Image summaries, in file order.
    pub images: Vec<ImageSummary>,
}

/// One image summary: an encoded PNG and what the event says about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageSummary {
    /// The summary tag.
    pub tag: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Channels (TensorBoard's `colorspace`: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    pub channels: u32,
    /// The encoded image (PNG).
    pub png: Vec<u8>,
}

#[cfg(test)]
mod tests;
