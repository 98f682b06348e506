//! Evaluation: registration metrics (Dice, Jacobian folding, SDlogJ).

pub mod metrics;
