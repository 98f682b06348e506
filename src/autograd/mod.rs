//! Reverse-mode automatic differentiation with a tape.
//!
//! A [`Tape`] records, in execution order, each op applied to a tracked tensor together with
//! what its backward step needs (its [`BackwardOp`]). [`Tape::watch`] makes a tensor a tracked
//! leaf (a parameter or an input whose gradient is wanted); ops on tracked inputs return
//! tracked outputs, ops on untracked inputs record nothing. [`Tape::backward`] consumes the tape:
//! it walks the records in reverse, and drops each record, and with it the activations it saved,
//! as soon as its backward step has run; gradients of intermediate values are dropped once
//! passed on. What remains is the gradient of every watched leaf, in a [`Grads`].

use crate::error::{Error, Result};
use crate::ops::elementwise::add;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The backward step of one recorded op.
pub trait BackwardOp: Send {
    /// The op's name, for error messages.
    fn name(&self) -> &'static str;
    /// Given the gradient of the op's output, the gradient of each input (in the order the
    /// inputs were passed to [`record`]); `None` where an input gets no gradient.
    fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>>;
}

struct Record {
    inputs: Vec<Option<usize>>,
    output: usize,
    op: Box<dyn BackwardOp>,
}

#[derive(Default)]
struct TapeInner {
    next_id: usize,
    records: Vec<Record>,
    leaves: Vec<usize>,
    consumed: bool,
}

/// A recording of differentiable computation. Cloning shares the same recording.
#[derive(Clone, Default)]
pub struct Tape {
    inner: Arc<Mutex<TapeInner>>,
}

/// A tracked tensor's place on its tape.
#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) tape: Tape,
    pub(crate) id: usize,
}

/// Gradients of the watched leaves, keyed by the tracked tensors [`Tape::watch`] returned.
#[derive(Default, Debug)]
pub struct Grads {
    map: HashMap<usize, Tensor>,
}

impl Grads {
    /// The gradient of a watched tensor, or `None` if the loss does not depend on it.
    pub fn get(&self, watched: &Tensor) -> Option<&Tensor> {
        watched.node().and_then(|n| self.map.get(&n.id))
    }

    /// Removes and returns the gradient of a watched tensor.
    pub fn take(&mut self, watched: &Tensor) -> Option<Tensor> {
        watched.node().and_then(|n| self.map.remove(&n.id))
    }

    /// Number of leaves with a gradient.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no leaf got a gradient.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    fn lock(&self) -> MutexGuard<'_, TapeInner> {
        // A panic while the lock was held cannot leave the records half-written (every
        // mutation is a single push), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn same(&self, other: &Tape) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A tracked leaf with `t`'s data: its gradient is kept by [`Tape::backward`].
    pub fn watch(&self, t: &Tensor) -> Tensor {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.leaves.push(id);
        t.detach().with_node(Node {
            tape: self.clone(),
            id,
        })
    }

    /// Number of ops recorded and not yet consumed.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// True when no op is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Back-propagates from `loss` (seeded with ones; usually a one-element loss) and returns
    /// the gradients of the watched leaves. Consumes the recording: a tape runs backward once.
    pub fn backward(&self, loss: &Tensor) -> Result<Grads> {
        let node = loss.node().ok_or_else(|| {
            Error::Autograd(
                "backward: the loss is not tracked (no watched tensor reaches it)".into(),
            )
        })?;
        if !node.tape.same(self) {
            return Err(Error::Autograd(
                "backward: the loss belongs to another tape".into(),
            ));
        }
        let (mut records, leaves) = {
            let mut inner = self.lock();
            if inner.consumed {
                return Err(Error::Autograd(
                    "backward: this tape has already run backward".into(),
                ));
            }
            inner.consumed = true;
            (std::mem::take(&mut inner.records), inner.leaves.clone())
        };
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        grads.insert(
            node.id,
            Tensor::full(1.0, loss.shape().clone(), loss.device())?,
        );
        while let Some(rec) = records.pop() {
            let Some(dy) = grads.remove(&rec.output) else {
                continue; // the loss does not depend on this op
            };
            let dxs = rec.op.backward(&dy)?;
            if dxs.len() != rec.inputs.len() {
                return Err(Error::Autograd(format!(
                    "{}: backward returned {} gradients for {} inputs",
                    rec.op.name(),
                    dxs.len(),
                    rec.inputs.len()
                )));
            }
            for (input, dx) in rec.inputs.iter().zip(dxs) {
                if let (Some(id), Some(dx)) = (input, dx) {
                    let dx = dx.detach();
                    let acc = match grads.remove(id) {
                        Some(prev) => add(&prev, &dx)?,
                        None => dx,
                    };
                    grads.insert(*id, acc);
                }
            }
            // `rec` (and the activations it saved) is dropped here.
        }
        grads.retain(|id, _| leaves.contains(id));
        Ok(Grads { map: grads })
    }
}

/// Tracks `output` as the result of `op` applied to `inputs`, if any input is tracked.
/// With no tracked input, `op` is dropped and `output` returned untracked. Inputs tracked by
/// two different tapes are an error. `op` must hold only untracked (detached) tensors.
pub fn record(output: Tensor, inputs: &[&Tensor], op: impl BackwardOp + 'static) -> Result<Tensor> {
    let mut tape: Option<&Tape> = None;
    for t in inputs {
        if let Some(n) = t.node() {
            match tape {
                None => tape = Some(&n.tape),
                Some(tp) if !tp.same(&n.tape) => {
                    return Err(Error::Autograd(format!(
                        "{}: inputs are tracked by different tapes",
                        op.name()
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let Some(tape) = tape else {
        return Ok(output);
    };
    let tape = tape.clone();
    let id = {
        let mut inner = tape.lock();
        if inner.consumed {
            return Err(Error::Autograd(format!(
                "{}: recording on a tape that already ran backward",
                op.name()
            )));
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.records.push(Record {
            inputs: inputs.iter().map(|t| t.node().map(|n| n.id)).collect(),
            output: id,
            op: Box::new(op),
        });
        id
    };
    Ok(output.with_node(Node { tape, id }))
}

#[cfg(test)]
mod tests;
