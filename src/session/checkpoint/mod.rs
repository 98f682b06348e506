//! Checkpoints `checkpoints/chkpt_XX.safetensors`: everything an exact resume needs, in a file
//! Python's `safetensors` opens (`scripts/check_checkpoint.py`).
//!
//! Tensors (all `F32`, little-endian, with the tensor's own shape):
//! - `<name>` for every entry of the [`ParamStore`] under its layer name (`enc1.conv.weight`,
//!   `enc1.norm.running_mean`, `gradient_flow.bias` ...): weights and BatchNorm running
//!   statistics alike, in the engine's layouts: conv weights `[kD, kH, kW, Cin, Cout]`
//!   (PyTorch's `[Cout, Cin, kD, kH, kW]` is `.permute(4, 3, 0, 1, 2)` of it), dense weights
//!   `[in, out]`;
//! - `optimizer.m.<name>`, `optimizer.v.<name>`: Adam's moments of each trained parameter.
//!
//! String metadata (`__metadata__`): `format` (`voxflow-checkpoint-1`), `voxflow_version`,
//! `epoch` (1-based, the epoch just finished, or cut short when `partial.*` is present),
//! `builder_hash` and `network_hash` (16 hex digits each, see [`BuilderIdentity`]),
//! `optimizer.iterations`, `rng.state` (16 hex digits) and `rng.spare` (`none` or the cached
//! normal deviate's f64 bits as 16 hex digits), `gen.epoch` and `gen.cursor` (the training
//! pair generator's position: the 0-based epoch of its shuffled order that the next pair comes
//! from, and that pair's index in it), `params.trainable` / `params.total` (scalar counts, for `inspect`); for an
//! epoch cut short by Ctrl-C, `partial.steps_done` and `partial.sum.<term>` (f64 bits, hex:
//! the loss sums so far; `gen.cursor` is then the position after the last step done); and
//! `data_crc32c`: CRC-32C of every tensor's bytes in name order, so that a corrupted byte
//! anywhere in the data is detected (safetensors itself only checks the header and the
//! length).
//!
//! The file is written whole to a temporary file in the same directory and renamed over
//! `chkpt_XX.safetensors`, so an interrupted run never leaves a half-written checkpoint.

mod meta;

pub use meta::{
    BuilderIdentity, CheckpointInfo, CheckpointMeta, PartialEpoch, builder_hash, fnv1a64,
    network_hash, read_checkpoint_info,
};

use super::{Result, SessionError, atomic_write};
use crate::data::generators::GenState;
use crate::nn::Adam;
use crate::nn::ParamStore;
use crate::tensor::{Rng, Tensor};
use meta::{Diff, PARTIAL_STEPS, PARTIAL_SUM, Parsed, parse};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `format` metadata value of this layout.
pub const CHECKPOINT_FORMAT: &str = "voxflow-checkpoint-1";

/// Prefixes of the optimizer's tensors.
const M_PREFIX: &str = "optimizer.m.";
const V_PREFIX: &str = "optimizer.v.";

/// A tensor read from the file: shape and values.
type Loaded = (Vec<usize>, Vec<f32>);

/// What a checkpoint saves.
pub struct CheckpointData<'a> {
    /// The epoch just finished (1-based): the `XX` of `chkpt_XX`.
    pub epoch: u32,
    /// Every weight and running statistic.
    pub params: &'a ParamStore,
    /// The optimizer's step counter and moments.
    pub adam: &'a Adam,
    /// The training RNG.
    pub rng: &'a Rng,
    /// The training generator's position.
    pub gen_state: GenState,
    /// Set when the epoch was cut short.
    pub partial: Option<&'a PartialEpoch>,
    /// The session's builder.toml.
    pub builder: BuilderIdentity,
}

fn bytes_of(t: &Tensor, path: &Path, name: &str) -> Result<Vec<u8>> {
    let v = t
        .to_vec()
        .map_err(|e| SessionError::invalid(path, format!("tensor {name}: {e}")))?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Writes a checkpoint atomically (temporary file + rename).
pub fn save_checkpoint(path: &Path, data: &CheckpointData) -> Result<()> {
    let bad = |msg: String| Err(SessionError::invalid(path, msg));
    let adam = data.adam;
    let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (name, p) in data.params.iter() {
        if name.starts_with("optimizer.") {
            return bad(format!(
                "parameter name {name:?} collides with the optimizer's tensors"
            ));
        }
        let bytes = bytes_of(&p.value, path, name)?;
        tensors.insert(name.to_string(), (p.value.dims().to_vec(), bytes));
    }
    if adam.m.keys().ne(adam.v.keys()) {
        return bad("Adam's first and second moments name different parameters".into());
    }
    for (prefix, moments) in [(M_PREFIX, &adam.m), (V_PREFIX, &adam.v)] {
        for (name, t) in moments {
            match data.params.get(name) {
                Ok(p) if p.value.shape() == t.shape() => {}
                _ => {
                    return bad(format!(
                        "Adam holds a moment for {name:?}, which is not a parameter of that shape"
                    ));
                }
            }
            let key = format!("{prefix}{name}");
            tensors.insert(key.clone(), (t.dims().to_vec(), bytes_of(t, path, &key)?));
        }
    }
    let mut crc = 0u32;
    for (_, bytes) in tensors.values() {
        crc = crc32c::crc32c_append(crc, bytes);
    }
    let (state, spare) = data.rng.state();
    let (trainable, total) = data.params.count();
    let mut metadata: HashMap<String, String> = [
        ("format", CHECKPOINT_FORMAT.to_string()),
        ("voxflow_version", env!("CARGO_PKG_VERSION").to_string()),
        ("epoch", data.epoch.to_string()),
        ("builder_hash", format!("{:016x}", data.builder.text)),
        ("network_hash", format!("{:016x}", data.builder.network)),
        ("optimizer.iterations", adam.iterations.to_string()),
        ("rng.state", format!("{state:016x}")),
        (
            "rng.spare",
            spare.map_or("none".into(), |s| format!("{:016x}", s.to_bits())),
        ),
        ("gen.epoch", data.gen_state.epoch.to_string()),
        ("gen.cursor", data.gen_state.cursor.to_string()),
        ("params.trainable", trainable.to_string()),
        ("params.total", total.to_string()),
        ("data_crc32c", format!("{crc:08x}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(p) = data.partial {
        metadata.insert(PARTIAL_STEPS.into(), p.steps_done.to_string());
        for (term, sum) in &p.sums {
            metadata.insert(
                format!("{PARTIAL_SUM}{term}"),
                format!("{:016x}", sum.to_bits()),
            );
        }
    }
    let mut views = Vec::with_capacity(tensors.len());
    for (name, (shape, bytes)) in &tensors {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| SessionError::invalid(path, format!("tensor {name}: {e}")))?;
        views.push((name.as_str(), view));
    }
    let buf = serialize(views, Some(metadata))
        .map_err(|e| SessionError::invalid(path, format!("cannot serialize: {e}")))?;
    atomic_write(path, &sorted_header(buf, path)?)
}

/// The safetensors file `buf` with its JSON header's keys sorted (the library writes the
/// metadata map in hash order, which differs from run to run), so that the same state always
/// gives the same bytes. The header stays padded with spaces to a multiple of 8 bytes.
fn sorted_header(buf: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    let bad = |msg: String| SessionError::invalid(path, msg);
    let n = buf
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .filter(|&n| 8 + n <= buf.len())
        .ok_or_else(|| bad("serialized checkpoint has no header".into()))?;
    let header: serde_json::Value = serde_json::from_slice(&buf[8..8 + n])
        .map_err(|e| bad(format!("serialized header is not JSON: {e}")))?;
    let mut text = serde_json::to_string(&sorted(header))
        .map_err(|e| bad(format!("cannot write the header: {e}")))?
        .into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + buf.len() - 8 - n);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&buf[8 + n..]);
    Ok(out)
}

/// `v` with every object's keys in sorted order.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let entries: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(entries.into_iter().collect())
        }
        other => other,
    }
}

/// Restores a checkpoint into `store` (every tensor by name, with shape checks) and `adam`
/// (moments and step counter), and returns the epoch, RNG and generator position.
///
/// A checkpoint written for a different builder.toml (that `builder` does not fit) is
/// refused, and the message lists the tensor names and shapes that differ from `store`. A
/// truncated or corrupted file is an error naming it. Nothing is changed unless everything
/// checks out.
pub fn load_checkpoint(
    path: &Path,
    builder: &BuilderIdentity,
    store: &mut ParamStore,
    adam: &mut Adam,
) -> Result<CheckpointMeta> {
    let bytes = std::fs::read(path).map_err(|e| SessionError::io(path, e))?;
    let Parsed { st, meta } = parse(&bytes, path)?;
    let bad = |msg: String| Err(SessionError::invalid(path, msg));
    let mut params = BTreeMap::new();
    let mut moments: [BTreeMap<String, Loaded>; 2] = Default::default();
    for (name, view) in st.tensors() {
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(n) = name.strip_prefix(M_PREFIX) {
            moments[0].insert(n.to_string(), (view.shape().to_vec(), values));
        } else if let Some(n) = name.strip_prefix(V_PREFIX) {
            moments[1].insert(n.to_string(), (view.shape().to_vec(), values));
        } else {
            params.insert(name, (view.shape().to_vec(), values));
        }
    }
    let diff = Diff::new(
        store,
        params.iter().map(|(n, (s, _))| (n.as_str(), s.as_slice())),
    );
    if !builder.fits(&meta) {
        return bad(format!(
            "written for a different builder.toml (builder hash {:016x}, this session's is \
             {:016x}); {}",
            meta.builder_hash,
            builder.text,
            diff.describe()
        ));
    }
    if !diff.is_empty() {
        return bad(format!("does not fit the network: {}", diff.describe()));
    }
    let mut restored = Vec::with_capacity(params.len());
    for (name, (shape, values)) in params {
        let device = store
            .get(&name)
            .map(|p| p.value.device())
            .unwrap_or_default();
        let t = Tensor::from_vec(values, shape, device)
            .map_err(|e| SessionError::invalid(path, format!("tensor {name}: {e}")))?;
        restored.push((name, t));
    }
    let [m, v] = moments;
    if m.keys().ne(v.keys()) {
        return bad("the optimizer's first and second moments name different parameters".into());
    }
    let mut new_m = BTreeMap::new();
    let mut new_v = BTreeMap::new();
    for (dst, src, prefix) in [(&mut new_m, m, M_PREFIX), (&mut new_v, v, V_PREFIX)] {
        for (name, (shape, values)) in src {
            let p = match store.get(&name) {
                Ok(p) if p.trainable && p.value.dims() == shape.as_slice() => p,
                _ => {
                    return bad(format!(
                        "{prefix}{name} {shape:?}: no trainable parameter {name:?} of that shape"
                    ));
                }
            };
            let t = Tensor::from_vec(values, p.value.shape().clone(), p.value.device())
                .map_err(|e| SessionError::invalid(path, format!("{prefix}{name}: {e}")))?;
            dst.insert(name, t);
        }
    }
    for (name, t) in restored {
        store
            .set(&name, t)
            .map_err(|e| SessionError::invalid(path, e.to_string()))?;
    }
    adam.m = new_m;
    adam.v = new_v;
    adam.iterations = meta.iterations;
    Ok(meta)
}
