//! Medical volumes in: file formats, the LUNA16 layout, preprocessing, caching, background
//! loading, the training generators, and the built-in phantom dataset (SPEC section 5).

pub mod error;
pub mod io;
pub mod phantom;
pub mod volume;

pub use error::{DataError, DataResult};
pub use volume::Volume;
