//! Reading a checkpoint's header: the safetensors structure, the voxflow metadata, the data
//! checksum; the builder hash; and the description of how a checkpoint's tensors differ from a
//! network's.

use super::{CHECKPOINT_FORMAT, M_PREFIX, V_PREFIX};
use crate::data::generators::GenState;
use crate::models::{BuilderConfig, BuilderKind};
use crate::nn::ParamStore;
use crate::session::{Result, SessionError};
use crate::tensor::Rng;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// What a checkpoint says about the run besides its tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointMeta {
    /// The epoch it was written after (1-based).
    pub epoch: u32,
    /// The builder hash it was written with.
    pub builder_hash: u64,
    /// The network hash it was written with (absent in checkpoints of earlier versions).
    pub network_hash: Option<u64>,
    /// Adam's step counter.
    pub iterations: u64,
    /// The training RNG, exactly.
    pub rng: Rng,
    /// The training generator's position.
    pub gen_state: GenState,
    /// Set when the epoch was cut short (Ctrl-C): how far it got.
    pub partial: Option<PartialEpoch>,
    /// The voxflow version that wrote it.
    pub version: String,
    /// CRC-32C of its tensors' bytes (checked on reading): identifies what it holds.
    pub data_crc32c: u32,
}

/// An epoch cut short after `steps_done` steps, with the sums of its loss terms so far, so
/// that a resumed run finishes it with the same epoch means as an uninterrupted one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartialEpoch {
    pub steps_done: u64,
    /// `loss` and every term, summed over the steps done.
    pub sums: BTreeMap<String, f64>,
}

/// Metadata key of a partial epoch's step count, and prefix of its sums (f64 bits in hex).
pub(super) const PARTIAL_STEPS: &str = "partial.steps_done";
pub(super) const PARTIAL_SUM: &str = "partial.sum.";

/// A checkpoint's summary for `voxflow inspect`, read without a network.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    pub meta: CheckpointMeta,
    /// Model tensors (weights and statistics) with their shapes, in name order.
    pub tensors: Vec<(String, Vec<usize>)>,
    /// Number of optimizer tensors (`optimizer.m.*` and `optimizer.v.*`).
    pub optimizer_tensors: usize,
    /// Scalars in trainable parameters, and in all model tensors.
    pub params_trainable: u64,
    pub params_total: u64,
}

/// The 64-bit FNV-1a hash of builder.toml's content, as written in checkpoints. The TOML is
/// hashed in a canonical form (keys sorted, values by type and exact bits), so comments,
/// spacing and key order do not change it but any value does. Text that is not TOML is hashed
/// as it is (line endings normalized).
pub fn builder_hash(text: &str) -> u64 {
    let mut canon = String::new();
    match text.parse::<toml::Table>() {
        Ok(t) => canonical(&toml::Value::Table(t), &mut canon),
        Err(_) => canon = text.replace("\r\n", "\n"),
    }
    fnv1a64(canon.as_bytes())
}

pub use crate::fsutil::fnv1a64;

/// A hash of the network `builder` describes: [`builder_hash`] of its own TOML with what does
/// not shape the network set to defaults (the nominal `input_shape`, which only `inspect`
/// uses, and the table of the architecture not selected by `kind`).
pub fn network_hash(builder: &BuilderConfig) -> u64 {
    let defaults = BuilderConfig::defaults(builder.kind);
    let mut b = builder.clone();
    b.input_shape = defaults.input_shape;
    match b.kind {
        BuilderKind::Unet => b.marianet = defaults.marianet,
        BuilderKind::MariaNet => b.unet = defaults.unet,
    }
    builder_hash(&b.to_toml())
}

/// Which builder a checkpoint was written for, by two hashes: of builder.toml's values
/// ([`builder_hash`]) and of the network they describe ([`network_hash`]). A checkpoint fits a
/// session when either matches: the first survives a later voxflow that reads more builder
/// keys (with defaults), the second edits that leave the network as it was (the unused
/// architecture's table deleted, a default value written out, another nominal input size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuilderIdentity {
    pub text: u64,
    pub network: u64,
}

impl BuilderIdentity {
    /// The identity of `builder`, read from the builder.toml text `text`.
    pub fn of(text: &str, builder: &BuilderConfig) -> Self {
        BuilderIdentity {
            text: builder_hash(text),
            network: network_hash(builder),
        }
    }

    /// Whether a checkpoint with `meta` was written for this builder.
    pub fn fits(&self, meta: &CheckpointMeta) -> bool {
        meta.builder_hash == self.text || meta.network_hash == Some(self.network)
    }
}

/// A stable rendering of a TOML value that does not depend on the toml crate's formatting.
fn canonical(v: &toml::Value, out: &mut String) {
    use std::fmt::Write;
    use toml::Value::*;
    let _ = match v {
        String(s) => write!(out, "s{}:{s}", s.len()),
        Integer(i) => write!(out, "i{i};"),
        Float(f) => write!(out, "f{:016x};", f.to_bits()),
        Boolean(b) => write!(out, "b{b};"),
        Datetime(d) => write!(out, "d{d};"),
        Array(a) => {
            let _ = write!(out, "a{}[", a.len());
            a.iter().for_each(|x| canonical(x, out));
            write!(out, "]")
        }
        Table(t) => {
            let sorted: BTreeMap<_, _> = t.iter().collect();
            let _ = write!(out, "t{}{{", sorted.len());
            for (k, x) in sorted {
                let _ = write!(out, "k{}:{k}=", k.len());
                canonical(x, out);
            }
            write!(out, "}}")
        }
    };
}

pub(super) struct Parsed<'a> {
    pub st: SafeTensors<'a>,
    pub meta: CheckpointMeta,
}

/// Parses and checks the whole file: structure, format, metadata, dtypes, data checksum.
pub(super) fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<Parsed<'a>> {
    let invalid = |msg: String| SessionError::invalid(path, msg);
    let corrupt = |e: safetensors::SafeTensorError| {
        invalid(format!(
            "not a readable safetensors file (truncated or corrupted?): {e}"
        ))
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let st = SafeTensors::deserialize(bytes).map_err(corrupt)?;
    let Some(map) = header.metadata() else {
        return Err(invalid("no metadata: not a voxflow checkpoint".into()));
    };
    let get = |k: &str| {
        map.get(k).map(String::as_str).ok_or_else(|| {
            invalid(format!(
                "metadata key `{k}` is missing: not a voxflow checkpoint"
            ))
        })
    };
    let format = get("format")?;
    if format != CHECKPOINT_FORMAT {
        return Err(invalid(format!(
            "format {format:?}; this voxflow reads {CHECKPOINT_FORMAT:?}"
        )));
    }
    let bad_key = |k: &str, v: &str| invalid(format!("metadata `{k}` = {v:?} is malformed"));
    let dec = |k: &str| get(k).and_then(|v| v.parse::<u64>().map_err(|_| bad_key(k, v)));
    let hex = |k: &str| get(k).and_then(|v| u64::from_str_radix(v, 16).map_err(|_| bad_key(k, v)));
    let epoch = dec("epoch")?;
    let spare = match get("rng.spare")? {
        "none" => None,
        _ => Some(f64::from_bits(hex("rng.spare")?)),
    };
    let mut meta = CheckpointMeta {
        epoch: u32::try_from(epoch).map_err(|_| bad_key("epoch", &epoch.to_string()))?,
        builder_hash: hex("builder_hash")?,
        network_hash: match map.contains_key("network_hash") {
            true => Some(hex("network_hash")?),
            false => None,
        },
        iterations: dec("optimizer.iterations")?,
        rng: Rng::from_state(hex("rng.state")?, spare),
        gen_state: GenState {
            epoch: dec("gen.epoch")?,
            cursor: dec("gen.cursor")? as usize,
        },
        partial: None,
        version: get("voxflow_version")?.to_string(),
        data_crc32c: 0,
    };
    if map.contains_key(PARTIAL_STEPS) {
        let mut sums = BTreeMap::new();
        for (k, v) in map.iter() {
            if let Some(term) = k.strip_prefix(PARTIAL_SUM) {
                let bits = u64::from_str_radix(v, 16).map_err(|_| bad_key(k, v))?;
                sums.insert(term.to_string(), f64::from_bits(bits));
            }
        }
        meta.partial = Some(PartialEpoch {
            steps_done: dec(PARTIAL_STEPS)?,
            sums,
        });
    }
    let mut names = st.names();
    names.sort_unstable();
    let mut crc = 0u32;
    for name in names {
        let view = st.tensor(name).map_err(corrupt)?;
        if view.dtype() != Dtype::F32 {
            return Err(invalid(format!(
                "tensor {name} is {:?}, not F32",
                view.dtype()
            )));
        }
        crc = crc32c::crc32c_append(crc, view.data());
    }
    let want = hex("data_crc32c")?;
    if u64::from(crc) != want {
        return Err(invalid(format!(
            "data checksum {crc:08x} differs from the recorded {want:08x}: the file is corrupted"
        )));
    }
    meta.data_crc32c = crc;
    Ok(Parsed { st, meta })
}

/// Reads a checkpoint's metadata and tensor list (checking it whole) without a network.
pub fn read_checkpoint_info(path: &Path) -> Result<CheckpointInfo> {
    let bytes = std::fs::read(path).map_err(|e| SessionError::io(path, e))?;
    let Parsed { st, meta } = parse(&bytes, path)?;
    let mut tensors = Vec::new();
    let mut optimizer_tensors = 0;
    for (name, view) in st.iter() {
        if name.starts_with(M_PREFIX) || name.starts_with(V_PREFIX) {
            optimizer_tensors += 1;
        } else {
            tensors.push((name.to_string(), view.shape().to_vec()));
        }
    }
    tensors.sort();
    let count = |k: &str| {
        let m = SafeTensors::read_metadata(&bytes).ok();
        let v = m.and_then(|(_, h)| h.metadata().as_ref().and_then(|m| m.get(k).cloned()));
        v.and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok(CheckpointInfo {
        params_trainable: count("params.trainable"),
        params_total: count("params.total"),
        meta,
        tensors,
        optimizer_tensors,
    })
}

/// How a checkpoint's model tensors differ from a network's parameters.
pub(super) struct Diff {
    missing: Vec<String>,
    unexpected: Vec<String>,
    reshaped: Vec<String>,
}

impl Diff {
    pub fn new<'a>(store: &ParamStore, file: impl Iterator<Item = (&'a str, &'a [usize])>) -> Self {
        let file: BTreeMap<&str, &[usize]> = file.collect();
        let mut d = Diff {
            missing: vec![],
            unexpected: vec![],
            reshaped: vec![],
        };
        for (name, p) in store.iter() {
            match file.get(name) {
                None => d.missing.push(format!("{name} {}", p.value.shape())),
                Some(s) if *s != p.value.dims() => d.reshaped.push(format!(
                    "{name}: checkpoint {s:?}, network {}",
                    p.value.shape()
                )),
                Some(_) => {}
            }
        }
        for (name, s) in file {
            if store.get(name).is_err() {
                d.unexpected.push(format!("{name} {s:?}"));
            }
        }
        d
    }

    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.reshaped.is_empty()
    }

    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "every tensor name and shape matches the network, so builder.toml differs in \
                    a setting that does not change the weights: restore the builder.toml the \
                    checkpoint was trained with"
                .into();
        }
        let list = |what: &str, v: &[String]| {
            let shown: Vec<&str> = v.iter().take(5).map(String::as_str).collect();
            let more = if v.len() > 5 {
                format!(", and {} more", v.len() - 5)
            } else {
                String::new()
            };
            format!("{} {what} ({}{more})", v.len(), shown.join(", "))
        };
        let mut parts = vec![];
        if !self.missing.is_empty() {
            parts.push(list(
                "network tensors missing from the checkpoint",
                &self.missing,
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(list(
                "checkpoint tensors unknown to the network",
                &self.unexpected,
            ));
        }
        if !self.reshaped.is_empty() {
            parts.push(list("tensors with different shapes", &self.reshaped));
        }
        parts.join("; ")
    }
}
