//! `voxflow inspect PATH`: a readable summary of what `PATH` is.
//!
//! - a session directory (or a session name under the sessions root): builder, parameter
//!   count, config, split sizes, checkpoints, epochs done, best validation loss, the last
//!   validation Dice, and the means of every score table in `scores/`;
//! - a `builder.toml`: the network's layers with their output shapes at the configured input
//!   size and parameter counts (the network is built, nothing runs);
//! - a `config.toml`: generator, losses, schedule, data and device;
//! - a checkpoint `.safetensors`: epoch, versions, parameter counts and every model tensor's
//!   name and shape (read and checksummed without a network).
//!
//! TOML files are told apart by their keys (`kind` for a builder, `generator` for a config).

use crate::eval::scores::ScoreTable;
use crate::eval::scores_meta::ScoresMeta;
use crate::eval::{EvalError, EvalResult};
use crate::models::{BuilderConfig, Model};
use crate::nn::ParamStore;
use crate::session::config::{DeviceChoice, TrainConfig};
use crate::session::lock::lock_holder;
use crate::session::paths::epoch_label;
use crate::session::{
    IdSet, SessionError, SessionPaths, TrainingHistory, latest_checkpoint, read_checkpoint_info,
    read_ids_maybe_empty, sessions_root,
};
use crate::tensor::{Device, Rng};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn shape(dims: &[usize]) -> String {
    let v: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// Summarizes `path` (see the module documentation). A path that does not exist is looked up
/// as a session name under `sessions_dir` (default `$VOXFLOW_SESSIONS`, else `sessions`).
pub fn inspect(path: &Path, sessions_dir: Option<PathBuf>) -> EvalResult<String> {
    if !path.exists() {
        let as_session = path
            .to_str()
            .and_then(|n| SessionPaths::new(&sessions_root(sessions_dir), n).ok());
        return match as_session {
            Some(p) if p.dir().is_dir() => inspect_session(p.dir()),
            _ => Err(EvalError::Usage(format!(
                "{}: no such file, directory or session",
                path.display()
            ))),
        };
    }
    if path.is_dir() {
        return inspect_session(path);
    }
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".safetensors") {
        return inspect_checkpoint(path);
    }
    if name.ends_with(".toml") {
        let text = std::fs::read_to_string(path).map_err(|e| SessionError::io(path, e))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| SessionError::invalid(path, format!("not TOML: {e}")))?;
        if table.contains_key("kind") {
            return inspect_builder(&BuilderConfig::from_toml(&text, path)?, path);
        }
        if table.contains_key("generator") {
            return Ok(config_summary(&TrainConfig::load(path)?, path));
        }
        return Err(EvalError::Usage(format!(
            "{}: neither a builder.toml (no `kind`) nor a config.toml (no `generator`)",
            path.display()
        )));
    }
    Err(EvalError::Usage(format!(
        "{}: not a session directory, builder.toml, config.toml or .safetensors checkpoint",
        path.display()
    )))
}

/// Builds the network of `cfg` on the CPU (parameters only).
fn build(cfg: &BuilderConfig) -> EvalResult<(Model, ParamStore)> {
    let mut store = ParamStore::new();
    let model = Model::build(cfg, &mut store, &mut Rng::new(0), Device::Cpu)?;
    Ok((model, store))
}

/// One line about a builder; `nominal_input` shows its `input_shape` (left out in a session's
/// summary, whose grid is config.toml's).
fn builder_line(cfg: &BuilderConfig, store: &ParamStore, nominal_input: bool) -> String {
    let (trainable, total) = store.count();
    let [d, h, w] = cfg.input_shape;
    let input = if nominal_input {
        format!(" | nominal input {d}x{h}x{w}")
    } else {
        String::new()
    };
    format!(
        "{}{input} | {} parameters ({} trainable) | norm {} | padding {}{}",
        cfg.kind,
        thousands(total as u64),
        thousands(trainable as u64),
        crate::models::builder::norm_name(cfg.norm),
        crate::models::builder::padding_name(cfg.padding),
        if cfg.use_segmentation {
            " | segmentation input"
        } else {
            ""
        }
    )
}

fn inspect_builder(cfg: &BuilderConfig, path: &Path) -> EvalResult<String> {
    let (model, store) = build(cfg)?;
    let mut s = format!(
        "builder {}\n{}\n",
        path.display(),
        builder_line(cfg, &store, true)
    );
    let rows = model.summary(&store);
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(
        s,
        "{:<width$}  {:<22}  {:>12}",
        "layer", "output shape", "parameters"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<width$}  {:<22}  {:>12}",
            r.name,
            shape(&r.output_shape),
            thousands(r.params as u64)
        );
    }
    Ok(s)
}

fn config_summary(c: &TrainConfig, path: &Path) -> String {
    let losses: Vec<String> = c
        .losses
        .iter()
        .map(|t| format!("{} {} x{}", t.output.name(), t.loss.name(), t.weight))
        .collect();
    let [d, h, w] = c.shape;
    format!(
        "config {}\ngenerator {}{} | grid {d}x{h}x{w} | losses: {} | epochs {} | steps per epoch \
         {} | batch {} | lr {} | seed {} | device {} | data {}\n",
        path.display(),
        c.generator.name(),
        c.atlas_id
            .as_ref()
            .map(|a| format!(" (atlas {a})"))
            .unwrap_or_default(),
        losses.join(", "),
        c.epochs,
        if c.steps_per_epoch == 0 {
            "= train ids".to_string()
        } else {
            c.steps_per_epoch.to_string()
        },
        c.batch_size,
        c.optimizer.lr,
        c.seed,
        match c.device {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
        },
        c.data_dir
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "phantom (or $VOXFLOW_DATA)".into())
    )
}

fn inspect_session(dir: &Path) -> EvalResult<String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = dir.parent().unwrap_or(Path::new("."));
    let paths = SessionPaths::new(root, &name)?;
    if !paths.builder().is_file() {
        return Err(EvalError::Usage(format!(
            "{}: not a session (no builder.toml)",
            dir.display()
        )));
    }
    let builder = BuilderConfig::load(&paths.builder())?;
    let (_, store) = build(&builder)?;
    let mut s = format!("session {} ({})\n", name, dir.display());
    if let Some(holder) = lock_holder(&paths) {
        let who = holder
            .map(|h| h.describe())
            .unwrap_or_else(|| "a run".into());
        let _ = writeln!(s, "running now: {who}; {}", paths.lock().display());
    }
    let _ = writeln!(s, "builder: {}", builder_line(&builder, &store, false));
    let config = TrainConfig::load(&paths.config())?;
    for line in config_summary(&config, &paths.config()).lines().skip(1) {
        let _ = writeln!(s, "config: {line}");
    }
    let sizes = IdSet::ALL
        .iter()
        .map(|&set| {
            read_ids_maybe_empty(&paths.ids(set)).map(|ids| format!("{} {}", ids.len(), set.name()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let _ = writeln!(s, "split: {} ids", sizes.join(", "));
    match latest_checkpoint(&paths)? {
        Some((epoch, p)) => {
            // A checkpoint written by Ctrl-C mid-epoch says so (resuming finishes the epoch); one
            // that cannot be read says why, so nobody resumes from it unwarned.
            let what = match read_checkpoint_info(&p) {
                Ok(info) => epoch_label(epoch, info.meta.partial.map(|part| part.steps_done)),
                Err(e) => format!("{}; unreadable: {e}", epoch_label(epoch, None)),
            };
            let _ = writeln!(s, "checkpoints: latest {} ({what})", p.display());
        }
        None => s.push_str("checkpoints: none\n"),
    }
    s.push_str(&history_line(&paths));
    s.push_str(&score_lines(&paths)?);
    Ok(s)
}

/// The session's training history in one line: epochs, best validation loss, last Dice.
fn history_line(paths: &SessionPaths) -> String {
    let mut s = String::new();
    let history = paths
        .history()
        .is_file()
        .then(|| TrainingHistory::load(&paths.history()));
    if let Some(Err(e)) = &history {
        let _ = writeln!(s, "history: unreadable ({e})");
    } else if let Some(Ok(h)) = &history {
        let last_epoch = h.last_epoch().unwrap_or(0);
        let mut line = format!("history: {last_epoch} epochs");
        if h.epochs.len() != last_epoch as usize {
            // Epochs missing (a history lost before a resume).
            line = format!(
                "history: {} epochs recorded, up to epoch {last_epoch}",
                h.epochs.len()
            );
        }
        let best = h.series("val_loss").and_then(|v| {
            v.iter()
                .zip(&h.epochs)
                .filter_map(|(x, e)| x.map(|x| (x, *e)))
                .min_by(|a, b| a.0.total_cmp(&b.0))
        });
        if let Some((v, e)) = best {
            let _ = write!(line, " | best val_loss {v:.5} at epoch {e}");
        }
        let last = |k: &str| h.series(k).and_then(|v| v.last().copied().flatten());
        if let Some(d) = last("val_dice") {
            let _ = write!(line, " | last val_dice {d:.4}");
            if let Some(b) = last("val_dice_before") {
                let _ = write!(line, " (before {b:.4})");
            }
        }
        let _ = writeln!(s, "{line}");
    } else {
        s.push_str("history: not trained yet\n");
    }
    s
}

/// One line per score table of the session: samples, the checkpoint scored, the means.
fn score_lines(paths: &SessionPaths) -> EvalResult<String> {
    let mut s = String::new();
    let mut tables: Vec<PathBuf> = std::fs::read_dir(paths.scores_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                .collect()
        })
        .unwrap_or_default();
    tables.sort();
    for t in tables {
        let text = std::fs::read_to_string(&t).map_err(|e| SessionError::io(&t, e))?;
        let file = t.file_name().unwrap_or_default().to_string_lossy();
        match ScoreTable::parse(&text, &t) {
            Ok(table) => {
                let means: Vec<String> = table
                    .summary()
                    .iter()
                    .filter(|c| {
                        ["dice", "dice_before", "hd95", "ncc", "folding_pct"]
                            .contains(&c.name.as_str())
                    })
                    .map(|c| format!("{} {:.4}", c.name, c.mean))
                    .collect();
                let from = ScoresMeta::read_beside(&t)
                    .map(|m| {
                        let file = m.checkpoint_file(paths.dir());
                        format!(
                            " | {} ({}{})",
                            paths.checkpoint_label(&file),
                            epoch_label(m.epoch, m.cut_short_after),
                            m.checkpoint_now(&file).note()
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "scores {file}: {} samples{from} | mean {}",
                    table.rows.len(),
                    means.join(", ")
                );
            }
            Err(e) => {
                let _ = writeln!(s, "scores {file}: unreadable ({e})");
            }
        }
    }
    Ok(s)
}

fn inspect_checkpoint(path: &Path) -> EvalResult<String> {
    let info = read_checkpoint_info(path)?;
    let m = &info.meta;
    let mut s = format!(
        "checkpoint {}\n{} | voxflow {} | builder hash {:016x}{} | optimizer step {}\n\
         {} model tensors, {} parameters ({} trainable) | {} optimizer tensors\n",
        path.display(),
        epoch_label(m.epoch, m.partial.as_ref().map(|p| p.steps_done)),
        m.version,
        m.builder_hash,
        m.network_hash
            .map(|h| format!(" | network hash {h:016x}"))
            .unwrap_or_default(),
        m.iterations,
        info.tensors.len(),
        thousands(info.params_total),
        thousands(info.params_trainable),
        info.optimizer_tensors
    );
    let width = info
        .tensors
        .iter()
        .map(|t| t.0.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(s, "{:<width$}  shape", "tensor");
    for (name, dims) in &info.tensors {
        let _ = writeln!(s, "{name:<width$}  {}", shape(dims));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(273_955), "273,955");
        assert_eq!(thousands(1_860_351), "1,860,351");
    }

    #[test]
    fn a_default_unet_builder_has_the_spec_parameter_count() {
        let dir = crate::testutil::TempDir::new("inspect");
        let p = dir.0.join("builder.toml");
        BuilderConfig::defaults(crate::models::BuilderKind::Unet)
            .save(&p)
            .unwrap();
        let text = inspect(&p, None).unwrap();
        assert!(
            text.contains("273,955 parameters (273,411 trainable)"),
            "{text}"
        );
        assert!(
            text.contains("gradient_flow") && text.contains("enc1"),
            "{text}"
        );
        let e = inspect(&dir.0.join("nothing.toml"), Some(dir.0.clone())).unwrap_err();
        assert!(e.to_string().contains("nothing.toml"), "{e}");
    }

    #[test]
    fn a_session_with_an_unreadable_checkpoint_or_history_says_so() {
        use crate::data::generators::GenKind;
        use crate::models::BuilderKind;
        use crate::session::{SplitFractions, create_session, split_ids};
        let dir = crate::testutil::TempDir::new("inspect-session");
        let builder = BuilderConfig::defaults(BuilderKind::Unet);
        let cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
        let ids: Vec<String> = (0..6).map(|i| format!("scan{i}")).collect();
        let (paths, _) = create_session(
            &dir.0,
            "s",
            &builder,
            &cfg,
            &split_ids(&ids, SplitFractions::default(), 1).unwrap(),
            false,
        )
        .unwrap();
        let text = inspect(paths.dir(), None).unwrap();
        assert!(text.contains("checkpoints: none"), "{text}");
        assert!(!text.contains("running now"), "{text}");
        let lock = crate::session::lock::SessionLock::acquire(&paths, "train").unwrap();
        let text = inspect(paths.dir(), None).unwrap();
        assert!(
            text.contains(&format!(
                "running now: `train` (process {}",
                std::process::id()
            )),
            "{text}"
        );
        drop(lock);
        // A checkpoint cut off in its header (a full disk, a killed copy).
        std::fs::write(paths.checkpoint_path(3), [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap();
        let text = inspect(paths.dir(), None).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("checkpoints:"))
            .unwrap();
        assert!(
            line.contains("chkpt_03.safetensors (epoch 3; unreadable:"),
            "{line}"
        );
        // A history with epochs missing, then one cut off, are reported, not fatal.
        let mut h = TrainingHistory::new();
        let values = [("loss".to_string(), 0.5)].into_iter().collect();
        h.push_epoch(3, &values).unwrap();
        h.save(&paths.history()).unwrap();
        let text = inspect(paths.dir(), None).unwrap();
        assert!(
            text.contains("history: 1 epochs recorded, up to epoch 3"),
            "{text}"
        );
        std::fs::write(paths.history(), "{\"epochs\": [1, 2").unwrap();
        let text = inspect(paths.dir(), None).unwrap();
        assert!(text.contains("history: unreadable ("), "{text}");
    }
}
