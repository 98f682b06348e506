//! Named parameters: the [`ParamStore`] that owns every weight and statistic of a model under a
//! stable name (the checkpoint key), and [`Params`], its view bound to one autograd tape for
//! one forward/backward step.

use crate::autograd::{Grads, Tape};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One named tensor of a model.
#[derive(Clone, Debug)]
pub struct Param {
    /// The current value (never tracked).
    pub value: Tensor,
    /// Trained by the optimizer (weights) or not (running statistics).
    pub trainable: bool,
}

/// Every parameter of a model, by name, in name order.
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    params: BTreeMap<String, Param>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter; a name used twice is an error.
    pub fn insert(&mut self, name: &str, value: Tensor, trainable: bool) -> Result<()> {
        if self.params.contains_key(name) {
            return Err(Error::Invalid {
                op: "ParamStore::insert",
                msg: format!("parameter {name:?} already exists"),
            });
        }
        let value = value.detach();
        self.params
            .insert(name.to_string(), Param { value, trainable });
        Ok(())
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Result<&Param> {
        self.params.get(name).ok_or_else(|| Error::Invalid {
            op: "ParamStore::get",
            msg: format!("no parameter named {name:?}"),
        })
    }

    /// Replaces the value of `name` with one of the same shape and device.
    pub fn set(&mut self, name: &str, value: Tensor) -> Result<()> {
        let op = "ParamStore::set";
        let p = self.params.get_mut(name).ok_or_else(|| Error::Invalid {
            op,
            msg: format!("no parameter named {name:?}"),
        })?;
        if p.value.shape() != value.shape() {
            return Err(Error::Shape {
                op,
                msg: format!(
                    "{name}: new value {} for a {} parameter",
                    value.shape(),
                    p.value.shape()
                ),
            });
        }
        if p.value.device() != value.device() {
            return Err(Error::DeviceMismatch {
                op,
                a: p.value.device(),
                b: value.device(),
            });
        }
        p.value = value.detach();
        Ok(())
    }

    /// Parameters in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Param)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The device the parameters live on (the CPU for an empty store).
    pub fn device(&self) -> crate::tensor::Device {
        self.params
            .values()
            .next()
            .map_or(crate::tensor::Device::Cpu, |p| p.value.device())
    }

    /// Number of named tensors.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// `(trainable, total)` numbers of scalar values.
    pub fn count(&self) -> (usize, usize) {
        self.params.values().fold((0, 0), |(t, a), p| {
            let n = p.value.numel();
            (t + if p.trainable { n } else { 0 }, a + n)
        })
    }

    /// A view for one step: trainable parameters are watched on `tape` (their gradients are
    /// kept), the others are read as constants. `training` selects layer behaviour (BatchNorm
    /// batch statistics and running-statistic updates).
    pub fn bind(&self, tape: &Tape, training: bool) -> Params<'_> {
        let watched = self
            .params
            .iter()
            .filter(|(_, p)| p.trainable)
            .map(|(k, p)| (k.clone(), tape.watch(&p.value)))
            .collect();
        Params {
            store: self,
            watched,
            training,
            updates: Mutex::new(Vec::new()),
        }
    }

    /// A view with no tape: nothing is tracked (inference).
    pub fn frozen(&self, training: bool) -> Params<'_> {
        Params {
            store: self,
            watched: BTreeMap::new(),
            training,
            updates: Mutex::new(Vec::new()),
        }
    }

    /// Writes the non-gradient updates (running statistics) collected during a forward pass
    /// (from [`Params::into_updates`]).
    pub fn apply_updates(&mut self, updates: Updates) -> Result<()> {
        for (name, value) in updates.0 {
            self.set(&name, value)?;
        }
        Ok(())
    }
}

/// New values of non-trainable parameters (running statistics) from one forward pass.
#[derive(Default)]
pub struct Updates(Vec<(String, Tensor)>);

/// A [`ParamStore`] bound to one step: what layers read their weights from.
pub struct Params<'a> {
    store: &'a ParamStore,
    watched: BTreeMap<String, Tensor>,
    training: bool,
    updates: Mutex<Vec<(String, Tensor)>>,
}

impl Params<'_> {
    /// The parameter `name`: tracked when it is trainable and bound to a tape.
    pub fn get(&self, name: &str) -> Result<Tensor> {
        match self.watched.get(name) {
            Some(t) => Ok(t.clone()),
            None => Ok(self.store.get(name)?.value.clone()),
        }
    }

    /// True in training mode.
    pub fn training(&self) -> bool {
        self.training
    }

    /// Records a new value for a non-trainable parameter (applied by
    /// [`ParamStore::apply_updates`] after the step).
    pub fn update(&self, name: &str, value: Tensor) {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), value.detach()));
    }

    /// Ends the step's view, releasing the store, and returns the recorded updates.
    pub fn into_updates(self) -> Updates {
        Updates(self.updates.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// The gradient of every watched parameter that received one, by name.
    pub fn grads(&self, grads: &mut Grads) -> BTreeMap<String, Tensor> {
        self.watched
            .iter()
            .filter_map(|(k, t)| grads.take(t).map(|g| (k.clone(), g)))
            .collect()
    }
}
