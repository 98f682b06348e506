//! When a run stops: after an epoch that meets early stopping (Keras' rule, on the history),
//! or after an epoch during which Ctrl-C was pressed; each prints why.

use crate::session::TrainingHistory;
use crate::session::config::{Monitor, TrainConfig};
use crate::session::log::Logger;
use crate::train::epoch::EpochEnd;
use crate::train::start::Run;

/// Why a run ends before its last epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// Early stopping.
    Early,
    /// Ctrl-C; `cut_short` when it stopped the epoch before its last step.
    Interrupted { cut_short: bool },
}

/// Whether the run ends after `epoch` (which ended as `end`), printing why. Early stopping
/// first: an epoch that meets it ends the run as a straight run would, even if Ctrl-C came
/// during its validation (a cut-short epoch's means do not count).
pub fn after_epoch(run: &Run, epoch: u32, end: &EpochEnd, log: &mut Logger) -> Option<Stop> {
    let cfg = &run.cfg;
    let early = if end.cut_short {
        None
    } else {
        should_stop(&run.history, cfg)
    };
    if let Some(wait) = early {
        log.line(&format!(
            "early stopping: {} has not improved by {} for {wait} epoch{} (patience {})",
            monitor_key(cfg),
            cfg.early_stopping.min_delta,
            if wait == 1 { "" } else { "s" },
            cfg.early_stopping.patience
        ));
        return Some(Stop::Early);
    }
    let (stats, cut_short) = (&end.stats, end.cut_short);
    if stops_here(
        stats.interrupted,
        crate::interrupt::requested(),
        cut_short,
        epoch == cfg.epochs,
    ) {
        let ckpt = run.paths.checkpoint_path(epoch);
        let name = ckpt.file_name().unwrap_or_default().to_string_lossy();
        log.line(&format!(
            "interrupted: epoch {epoch} ended after {} of {} steps; checkpoint {} \
             written; --weights {name} resumes{}",
            stats.partial.steps_done,
            run.data.steps,
            ckpt.display(),
            if cut_short {
                " the epoch where it stopped (and rewrites this checkpoint once it is complete)"
            } else {
                ""
            }
        ));
        return Some(Stop::Interrupted { cut_short });
    }
    None
}

/// Whether a Ctrl-C ends the run after this epoch: one seen during its steps
/// (`during_steps`), or one that came during its validation, observations or checkpoint
/// (`requested_since`), stops the run, except after the run's very last epoch completed (then
/// it stopped nothing). A cut-short epoch always stops it.
fn stops_here(during_steps: bool, requested_since: bool, cut_short: bool, last: bool) -> bool {
    (during_steps || requested_since) && (cut_short || !last)
}

fn monitor_key(cfg: &TrainConfig) -> &'static str {
    match cfg.early_stopping.monitor {
        Monitor::Loss => "loss",
        Monitor::ValLoss => "val_loss",
    }
}

/// Keras' EarlyStopping on the history: stop after an epoch that did not improve the
/// monitored value's best by more than `min_delta` once `patience` epochs in a row have not
/// (an improving epoch never stops the run, even with patience 0). Derived from the history
/// alone, so a resumed run stops exactly where an uninterrupted one would. When it stops:
/// the number of epochs without improvement.
fn should_stop(history: &TrainingHistory, cfg: &TrainConfig) -> Option<u32> {
    let series = history.series(monitor_key(cfg))?;
    let mut best = f64::INFINITY;
    let mut wait = 0u32;
    for v in series.iter().flatten() {
        if *v < best - cfg.early_stopping.min_delta {
            best = *v;
            wait = 0;
        } else {
            wait += 1;
        }
    }
    (wait > 0 && wait >= cfg.early_stopping.patience).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generators::GenKind;
    use crate::models::BuilderKind;

    #[test]
    fn a_ctrl_c_after_an_epochs_last_step_stops_before_the_next_epoch() {
        // During the steps, or during validation and checkpointing: no further epoch.
        assert!(stops_here(true, true, false, false));
        assert!(stops_here(false, true, false, false));
        assert!(stops_here(true, true, true, true), "a cut-short last epoch");
        // After the last epoch's work there is nothing to stop; without Ctrl-C, nothing stops.
        assert!(!stops_here(false, true, false, true));
        assert!(!stops_here(true, true, false, true));
        assert!(!stops_here(false, false, false, false));
    }

    #[test]
    fn early_stopping_follows_keras() {
        let stops = |losses: &[f64], patience: u32| {
            let mut cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
            cfg.early_stopping.patience = patience;
            let mut h = TrainingHistory::new();
            for (e, &l) in losses.iter().enumerate() {
                let values = [("loss".to_string(), l)].into_iter().collect();
                h.push_epoch(e as u32 + 1, &values).unwrap();
            }
            should_stop(&h, &cfg).is_some()
        };
        // min_delta 1e-3: 0.9995 is no improvement on 1.0.
        assert!(!stops(&[1.0], 0), "an improving epoch never stops the run");
        assert!(!stops(&[1.0, 0.5], 0));
        assert!(stops(&[1.0, 0.9995], 0));
        assert!(!stops(&[1.0, 0.9995], 2));
        assert!(stops(&[1.0, 0.9995, 1.2], 2));
        assert!(!stops(&[1.0, 0.9995, 1.2, 0.9], 2), "the count restarts");
        assert!(!stops(&[1.0, 1.0, 1.0, 0.9, 0.9], 2));
        assert!(stops(&[1.0, 1.0, 1.0, 0.9, 0.9, 0.9], 2));
        let mut cfg = TrainConfig::defaults(BuilderKind::Unet, GenKind::Luna);
        cfg.early_stopping.patience = 1;
        let mut h = TrainingHistory::new();
        for (e, l) in [1.0, 2.0, 3.0].into_iter().enumerate() {
            let values = [("loss".to_string(), l)].into_iter().collect();
            h.push_epoch(e as u32 + 1, &values).unwrap();
        }
        assert_eq!(should_stop(&h, &cfg), Some(2));
    }
}
