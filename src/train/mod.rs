//! Training: the optimizer (the trainer, losses and callbacks arrive with the training system).

pub mod config;
pub mod optim;

pub use optim::{Adam, AdamConfig};
