//! Registration in physical space (SPEC sections 10 and 11), the domain every registering
//! command shares: grids and host-side resampling in world coordinates ([`grid`]),
//! displacement fields in ITK's convention ([`field`]), and the instance optimization that
//! registers one pair on the engine ([`optimize`](mod@optimize)), from scratch or from a
//! network's prediction ([`network`]).
//!
//! Every displacement maps a point `x` of the fixed image (world mm, LPS) to the moving
//! image's point `x + u(x)`, whatever the two scans' origins, fields of view, spacings and
//! orientations.

pub mod field;
pub mod grid;
pub mod network;
pub mod optimize;
pub mod scores;

pub use field::{DisplacementField, Interp};
pub use grid::Grid;
pub use network::{network_grid, network_solution};
pub use optimize::{Affine, OptimizeOptions, Pair, Similarity, Solution, Step, optimize, refine};
pub use scores::{BeforeAfter, MaskScores, correlation, mask_scores, tre};
