//! Medical volumes in: file formats, the LUNA16 layout, preprocessing, caching, background
//! loading, the training generators, and the built-in phantom dataset (SPEC section 5).

pub mod cache;
pub mod error;
pub mod generators;
pub mod io;
pub mod landmarks;
pub mod loader;
pub mod luna;
pub mod phantom;
pub mod preprocess;
pub mod source;
pub mod volume;

pub use error::{DataError, DataResult};
pub use volume::Volume;
