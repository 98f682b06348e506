//! Tests of the training loop across devices.

mod device;
