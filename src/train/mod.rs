//! Training: config.toml, the optimizer, the objective, the epoch loop and its outputs
//! (checkpoints, history, TensorBoard, observations, logs).

pub mod epoch;
pub mod error;
pub mod interrupt;
pub mod losses;
pub mod progress;
mod start;
pub mod step;
pub mod trainer;

#[cfg(test)]
mod tests;

pub use step::{NamedGrads, train_step};
pub use trainer::{TrainOptions, TrainSummary, train};
