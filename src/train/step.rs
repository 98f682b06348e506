//! One optimizer step, the unit every training loop repeats: the trainer's epochs, the
//! training-step benchmarks and the device tests all go through [`train_step`].

use crate::Tape;
use crate::nn::Adam;
use crate::nn::{ParamStore, Params};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// Gradients of the trainable parameters, by name.
pub type NamedGrads = BTreeMap<String, Tensor>;

/// Binds the store's parameters to a fresh tape in training mode, runs `forward` (which
/// returns the loss to minimize and whatever else the caller wants back), backpropagates the
/// loss, applies `adam` and then the running-statistic updates of the forward pass.
///
/// When `forward` fails (a non-finite loss, say), nothing is changed. Returns the caller's
/// value and the gradients the update used.
pub fn train_step<T, E: From<crate::Error>>(
    store: &mut ParamStore,
    adam: &mut Adam,
    forward: impl FnOnce(&Params<'_>) -> Result<(Tensor, T), E>,
) -> Result<(T, NamedGrads), E> {
    let tape = Tape::new();
    let p = store.bind(&tape, true);
    let (loss, value) = forward(&p)?;
    let mut grads = tape.backward(&loss)?;
    let named = p.grads(&mut grads);
    drop(grads);
    let updates = p.into_updates();
    adam.step(store, &named)?;
    store.apply_updates(updates)?;
    Ok((value, named))
}
