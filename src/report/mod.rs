//! Reports of a training session: TensorBoard event files (written by hand: record framing
//! with masked CRC-32C and the few protobuf fields TensorBoard reads) and PNG figures for the
//! observations of SPEC section 8 (slices of volumes, colour maps, a tiny bitmap font for
//! titles, grids of titled panels), and [`observe`](mod@observe): the per-epoch observation
//! figures of a fixed pair (training writes them after each epoch, `voxflow show` for any scan).
//!
//! Everything here is plain CPU code on host arrays and `u8` images; nothing depends on the
//! tensor engine (the observations' numbers come from [`crate::metrics`]).

pub mod colormap;
pub mod figure;
pub mod font;
pub mod observe;
pub mod png;
pub mod slice;
pub mod tensorboard;

pub use colormap::{Colormap, FOLD_COLOUR, jacobian_colour, viridis};
pub use figure::{Figure, slice_strip, strip_panel_size};
pub use font::draw_text;
pub use png::{Gray, Raster, Rgb, encode_png, save_png};
pub use slice::{Axis, Shade, Slice2d, middle_slices, slice};
pub use tensorboard::{Event, EventWriter, ImageSummary, read_events, read_records};

use std::path::{Path, PathBuf};

/// A problem writing or reading a report file, or a bad argument to a report function.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be created, written or read.
    #[error(transparent)]
    Io(#[from] crate::fsutil::IoError),
    /// An event file is damaged: a CRC mismatch, a truncated record or bad protobuf.
    #[error("{}: record {record}: {msg}", path.display())]
    Corrupt {
        path: PathBuf,
        record: usize,
        msg: String,
    },
    /// An argument is out of range (an empty tag, a buffer of the wrong size, an index past
    /// the end of an axis).
    #[error("{0}")]
    Invalid(String),
}

impl ReportError {
    /// An `Io` error for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io(crate::fsutil::IoError::new(path, source))
    }
}

#[cfg(test)]
mod tests;
