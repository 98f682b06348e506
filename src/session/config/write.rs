//! [`TrainConfig::to_toml`]: the commented, hand-editable `config.toml`. Every key is written
//! with a comment above it; optional keys that are unset are written commented out, so the
//! file shows what can be set. The text parses back to an identical configuration.
//! [`TrainConfig::save_keys`] writes a few top-level keys into a file the user may have edited,
//! leaving the rest of it as it was.

use super::{DeviceChoice, Monitor, TrainConfig};
use crate::configfile::{ConfigError, parse_toml};
use crate::fsutil::atomic_write;
use std::fmt::Write;
use std::path::Path;

/// A TOML basic string (quotes, backslashes and control characters escaped).
pub(super) fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as TOML: Rust's shortest round-trip form (`1e-5`, `0.001`, `1.0`) is valid TOML
/// and reads back to the same value. Only finite values are written (validation ensures it).
fn float<T: std::fmt::Debug>(v: T) -> String {
    format!("{v:?}")
}

impl TrainConfig {
    /// The commented `config.toml` text.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let mut key = |comment: &str, line: String| {
            for c in comment.lines() {
                let _ = writeln!(s, "# {c}");
            }
            let _ = writeln!(s, "{line}\n");
        };
        let quoted = |v: &Option<String>, example: &str, name: &str| match v {
            Some(v) => format!("{name} = {}", toml_string(v)),
            None => format!("# {name} = {example}"),
        };
        key(
            "voxflow training configuration (SPEC sections 1 and 6). Edit freely: unknown keys\n\
             and wrong types are reported with file, key and expected type.\n\
             File format version (do not change).",
            format!("format_version = {}", self.format_version),
        );
        key(
            "Pair generator: luna (pairs of scans), luna_seg (with lung masks), atlas (every\n\
             scan to atlas_id), atlas_seg (with masks).",
            format!("generator = {}", toml_string(self.generator.name())),
        );
        let [d, h, w] = self.shape;
        key(
            "Network grid [D, H, W] (z, y, x) every volume is resampled to.",
            format!("shape = [{d}, {h}, {w}]"),
        );
        let dir = self
            .data_dir
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        key(
            "LUNA16-layout data directory (subset0..9/, seg-lungs-LUNA16/). `voxflow new` and\n\
             `train` record the one they used (the --data-dir flag, else VOXFLOW_DATA, else the\n\
             built-in phantom dataset).",
            quoted(&dir, "\"/data/luna16\"", "data_dir"),
        );
        key(
            "Atlas scan id (required by the atlas generators).",
            quoted(
                &self.atlas_id,
                "\"1.3.6.1.4.1.14519.5.2.1.6279.6001.123\"",
                "atlas_id",
            ),
        );
        key(
            "Weight of the L1 regularizer sum(|W|) on the flow head's kernel.",
            format!("l1_kernel = {}", float(self.l1_kernel)),
        );
        key("Number of epochs.", format!("epochs = {}", self.epochs));
        key(
            "Training steps per epoch; 0 = one pass over the training pairs: the number of\n\
             training ids (atlas generators: without the atlas itself, which has no pair).",
            format!("steps_per_epoch = {}", self.steps_per_epoch),
        );
        key(
            "Validation steps per epoch; 0 = max(floor(0.2 * steps_per_epoch), 1).",
            format!("validation_steps = {}", self.validation_steps),
        );
        key(
            "Samples per batch.",
            format!("batch_size = {}", self.batch_size),
        );
        key(
            "Seed of every random choice (initialization, pairs, shuffling, split).",
            format!("seed = {}", self.seed),
        );
        let device = match self.device {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        };
        key(
            "Device: auto (CUDA when available, else CPU), cpu or cuda.",
            format!("device = {}", toml_string(device)),
        );
        key("GPU ordinal for cuda.", format!("gpu_id = {}", self.gpu_id));
        let obs = match &self.observation_ids {
            Some([a, b]) => format!("observation_ids = [{}, {}]", toml_string(a), toml_string(b)),
            None => "# observation_ids = [\"SOURCE_ID\", \"TARGET_ID\"]".to_string(),
        };
        key(
            "Fixed pair [source, target] drawn after every epoch. Unset: the first validation pair.",
            obs,
        );
        key(
            "Background loader threads.",
            format!("workers = {}", self.workers),
        );
        key(
            "Batches prepared ahead of the training step.",
            format!("prefetch = {}", self.prefetch),
        );
        self.write_tables(&mut s);
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    }

    fn write_tables(&self, s: &mut String) {
        let o = &self.optimizer;
        let _ = writeln!(
            s,
            "# Adam with Keras time decay: lr / (1 + decay * iterations).\n[optimizer]\n\
             # Initial learning rate.\nlr = {}\n# First-moment decay.\nbeta1 = {}\n\
             # Second-moment decay.\nbeta2 = {}\n# Denominator epsilon.\neps = {}\n\
             # Time decay of the learning rate per update.\ndecay = {}\n",
            float(o.lr),
            float(o.beta1),
            float(o.beta2),
            float(o.eps),
            float(o.decay)
        );
        let es = &self.early_stopping;
        let monitor = match es.monitor {
            Monitor::Loss => "loss",
            Monitor::ValLoss => "val_loss",
        };
        let _ = writeln!(
            s,
            "# Stop when `monitor` has not improved by more than min_delta for patience epochs.\n\
             [early_stopping]\n# loss (training) or val_loss.\nmonitor = {}\n\
             # Smallest change counted as an improvement.\nmin_delta = {}\n\
             # Epochs without improvement before stopping.\npatience = {}\n",
            toml_string(monitor),
            float(es.min_delta),
            es.patience
        );
        let _ = writeln!(
            s,
            "# Loss terms: total = sum of weight * loss(output, target) + l1_kernel * sum(|W|).\n\
             # output: deformed (warped image), gradient (flow, target 0.5), linear (MariaNet's\n\
             # affine residual, target 0), deformed_seg (warped mask, _seg generators).\n\
             # loss: mse, mae, ncc, lncc (9^3 window), dice (masks)."
        );
        for t in &self.losses {
            let _ = writeln!(
                s,
                "[[losses]]\noutput = {}\nloss = {}\nweight = {}\n",
                toml_string(t.output.name()),
                toml_string(t.loss.name()),
                float(t.weight)
            );
        }
    }
}

/// The top-level keys of a TOML text with the byte range of each value.
fn top_level_spans(text: &str) -> Option<Vec<(String, std::ops::Range<usize>)>> {
    let table: std::collections::BTreeMap<String, toml::Spanned<toml::Value>> =
        toml::from_str(text).ok()?;
    Some(
        table
            .into_iter()
            .filter(|(_, v)| match v.get_ref() {
                toml::Value::Table(_) => false,
                toml::Value::Array(a) => !a.iter().any(toml::Value::is_table),
                _ => true,
            })
            .map(|(k, v)| (k, v.span()))
            .collect(),
    )
}

/// `text` with the top-level `keys` set to their values in `template` (a config.toml as
/// [`TrainConfig::to_toml`] writes it): each value is replaced where it stands, a key the text
/// lacks is added under its commented-out example or before the first table. Every other byte,
/// comments included, stays. `None` when the text cannot be edited so (not TOML, or a key not
/// at the top level of the template).
fn edit_top_level(text: &str, template: &str, keys: &[&str]) -> Option<String> {
    let (have, want) = (top_level_spans(text)?, top_level_spans(template)?);
    let find = |spans: &[(String, std::ops::Range<usize>)], key: &str| {
        spans.iter().find(|(k, _)| k == key).map(|(_, r)| r.clone())
    };
    // Where a missing key goes: after its commented-out example line (`# key = ...`, as the
    // template writes unset keys) if the text has one before the first table, else before the
    // first table (`[x]` or `[[x]]`), else at the end.
    // Added lines end as the text's lines do (a file saved on Windows keeps its CRLF).
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let missing_at = |key: &str| {
        let example = format!("# {key} =");
        let mut at = 0;
        // Where the run of comment lines just above the current line starts (a table's own
        // comment stays with its header).
        let mut comments_from = None;
        for line in text.split_inclusive('\n') {
            let outside_values = have.iter().all(|(_, r)| !r.contains(&at));
            let trimmed = line.trim_start();
            if outside_values && trimmed.starts_with('[') {
                return (comments_from.unwrap_or(at), 2);
            }
            comments_from = match trimmed.starts_with('#') {
                true => comments_from.or(Some(at)),
                false => None,
            };
            at += line.len();
            if outside_values && trimmed.starts_with(&example) {
                return (at, 1);
            }
        }
        (text.len(), 1)
    };
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for &key in keys {
        let value = &template[find(&want, key)?];
        match find(&have, key) {
            Some(r) => edits.push((r, value.to_string())),
            None => {
                let (at, breaks) = missing_at(key);
                let lead = if text[..at].ends_with('\n') || at == 0 {
                    ""
                } else {
                    nl
                };
                let end = nl.repeat(breaks);
                edits.push((at..at, format!("{lead}{key} = {value}{end}")));
            }
        }
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_string();
    for (r, v) in edits {
        out.replace_range(r, &v);
    }
    Some(out)
}

impl TrainConfig {
    /// Writes this configuration to `path` (atomically), changing only the top-level `keys`
    /// in the file there when that gives this configuration: the user's comments, order and
    /// formatting stay. Otherwise (no file, a file this cannot edit so) the whole commented
    /// file is written. Validates first.
    pub fn save_keys(&self, path: &Path, keys: &[&str]) -> Result<(), ConfigError> {
        self.validate(path)?;
        let edited = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| edit_top_level(&text, &self.to_toml(), keys))
            .filter(|text| parse_toml::<TrainConfig>(text, path).ok().as_ref() == Some(self));
        match edited {
            Some(text) => atomic_write(path, text.as_bytes())
                .map_err(|source| ConfigError::Io(crate::fsutil::IoError::new(path, source))),
            None => self.save(path),
        }
    }
}
