//! Training: config.toml, the optimizer, the objective, the epoch loop and its outputs
//! (checkpoints, history, TensorBoard, observations, logs).

pub mod config;
pub mod epoch;
pub mod error;
pub mod interrupt;
pub mod log;
pub mod losses;
pub mod observe;
pub mod optim;
pub mod progress;
pub mod setup;
mod start;
pub mod step;
pub mod trainer;

#[cfg(test)]
mod device_tests;

pub use optim::{Adam, AdamConfig};
pub use step::{NamedGrads, train_step};
pub use trainer::{TrainOptions, TrainSummary, train};
