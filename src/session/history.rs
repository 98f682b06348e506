//! `training_history.json`: the per-epoch value of every logged quantity, train and val.
//!
//! ```json
//! { "format_version": 1, "epochs": [1, 2, 3],
//!   "values": { "loss": [0.9, 0.7, 0.6], "val_loss": [1.0, 0.8, null], "lr": [...] } }
//! ```
//! Keys are chosen by the trainer; by convention the loss terms are `loss` (total),
//! `<output>_<loss>` (e.g. `deformed_mse`), `l1_kernel`, each with a `val_` twin, plus `lr`,
//! `steps_per_s`, `val_dice` and `val_folding_pct`. A value missing at an epoch, or not
//! finite (JSON has no NaN), is `null`.
//!
//! Resuming from `chkpt_XX` truncates the history to epochs ≤ XX before appending, so the
//! history of a resumed run equals that of an uninterrupted one.

use super::{Result, SessionError, atomic_write};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The `format_version` of training_history.json.
pub const HISTORY_FORMAT_VERSION: u32 = 1;

/// Per-epoch values by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingHistory {
    pub format_version: u32,
    /// The 1-based epochs recorded, increasing.
    pub epochs: Vec<u32>,
    /// One entry per epoch for every key.
    pub values: BTreeMap<String, Vec<Option<f64>>>,
}

impl Default for TrainingHistory {
    fn default() -> Self {
        TrainingHistory {
            format_version: HISTORY_FORMAT_VERSION,
            epochs: vec![],
            values: BTreeMap::new(),
        }
    }
}

impl TrainingHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| SessionError::io(path, e))?;
        let h: TrainingHistory = serde_json::from_str(&text)
            .map_err(|e| SessionError::invalid(path, format!("not a training history: {e}")))?;
        h.check().map_err(|msg| SessionError::invalid(path, msg))?;
        Ok(h)
    }

    /// [`TrainingHistory::load`], or an empty history when `path` does not exist.
    pub fn load_or_new(path: &Path) -> Result<Self> {
        if path.exists() {
            Self::load(path)
        } else {
            Ok(Self::new())
        }
    }

    /// Writes `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.check()
            .map_err(|msg| SessionError::invalid(path, msg))?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| SessionError::invalid(path, e.to_string()))?;
        atomic_write(path, format!("{text}\n").as_bytes())
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.format_version != HISTORY_FORMAT_VERSION {
            return Err(format!(
                "format_version = {}, but this voxflow reads format_version {HISTORY_FORMAT_VERSION}",
                self.format_version
            ));
        }
        if let Some(w) = self.epochs.windows(2).find(|w| w[0] >= w[1]) {
            return Err(format!("epochs do not increase ({} then {})", w[0], w[1]));
        }
        for (k, v) in &self.values {
            if v.len() != self.epochs.len() {
                return Err(format!(
                    "`{k}` has {} values for {} epochs",
                    v.len(),
                    self.epochs.len()
                ));
            }
        }
        Ok(())
    }

    /// Records `epoch` (greater than the last one). Keys new at this epoch get `null` for the
    /// earlier epochs; keys not given get `null` at this one; non-finite values are `null`.
    pub fn push_epoch(&mut self, epoch: u32, values: &BTreeMap<String, f64>) -> Result<()> {
        if let Some(&last) = self.epochs.last()
            && epoch <= last
        {
            return Err(SessionError::Usage(format!(
                "training history: epoch {epoch} after epoch {last}"
            )));
        }
        let before = self.epochs.len();
        for k in values.keys() {
            self.values
                .entry(k.clone())
                .or_insert_with(|| vec![None; before]);
        }
        for (k, v) in self.values.iter_mut() {
            v.push(values.get(k).copied().filter(|x| x.is_finite()));
        }
        self.epochs.push(epoch);
        Ok(())
    }

    /// Keeps the epochs ≤ `epoch` (for a resume from `chkpt_{epoch}`); keys left with no value
    /// are dropped.
    pub fn truncate_to(&mut self, epoch: u32) {
        let keep = self.epochs.partition_point(|&e| e <= epoch);
        self.epochs.truncate(keep);
        for v in self.values.values_mut() {
            v.truncate(keep);
        }
        self.values.retain(|_, v| v.iter().any(Option::is_some));
    }

    /// The values of `key`, one per epoch.
    pub fn series(&self, key: &str) -> Option<&[Option<f64>]> {
        self.values.get(key).map(Vec::as_slice)
    }

    /// The last recorded epoch.
    pub fn last_epoch(&self) -> Option<u32> {
        self.epochs.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_values(e: u32) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("loss".to_string(), 1.0 / e as f64),
            ("val_loss".to_string(), 1.5 / e as f64),
            ("lr".to_string(), 1e-3 / (1.0 + 1e-6 * e as f64)),
        ]);
        if e >= 3 {
            m.insert("val_dice".into(), 0.5 + e as f64 / 100.0);
        }
        m
    }

    #[test]
    fn push_fills_gaps_and_refuses_going_back() {
        let mut h = TrainingHistory::new();
        for e in 1..=3 {
            h.push_epoch(e, &epoch_values(e)).unwrap();
        }
        h.push_epoch(4, &BTreeMap::from([("loss".to_string(), f64::NAN)]))
            .unwrap();
        assert_eq!(
            h.series("val_dice").unwrap(),
            [None, None, Some(0.53), None]
        );
        assert_eq!(h.series("loss").unwrap()[3], None, "NaN is stored as null");
        assert_eq!(h.series("loss").unwrap()[1], Some(0.5));
        assert!(h.push_epoch(4, &epoch_values(4)).is_err());
        assert_eq!(h.last_epoch(), Some(4));
    }

    #[test]
    fn resumed_history_equals_the_uninterrupted_one() {
        let dir = std::env::temp_dir().join(format!("voxflow-hist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("training_history.json");
        let mut full = TrainingHistory::new();
        for e in 1..=6 {
            full.push_epoch(e, &epoch_values(e)).unwrap();
        }
        // A run that wrote epochs 1..=4 and died; the last checkpoint kept is chkpt_02.
        let mut crashed = TrainingHistory::new();
        for e in 1..=4 {
            crashed.push_epoch(e, &epoch_values(e)).unwrap();
            crashed.save(&path).unwrap();
        }
        let mut resumed = TrainingHistory::load(&path).unwrap();
        assert_eq!(resumed, crashed, "save/load round trip");
        resumed.truncate_to(2);
        assert_eq!(resumed.epochs, [1, 2]);
        assert!(
            resumed.series("val_dice").is_none(),
            "a key with no value left is dropped"
        );
        for e in 3..=6 {
            resumed.push_epoch(e, &epoch_values(e)).unwrap();
        }
        assert_eq!(resumed, full);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["training_history.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("voxflow-hist-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("training_history.json");
        for (text, needle) in [
            (
                "{\"format_version\": 1, \"epochs\": [1, 2], \"values\": {\"loss\": [1.0]}}",
                "`loss` has 1 values",
            ),
            (
                "{\"format_version\": 1, \"epochs\": [2, 1], \"values\": {}}",
                "do not increase",
            ),
            (
                "{\"format_version\": 9, \"epochs\": [], \"values\": {}}",
                "format_version = 9",
            ),
            (
                "{\"format_version\": 1, \"epochs\": [1], \"values\": {\"loss\": [1.0]}",
                "not a training history",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = TrainingHistory::load(&path).unwrap_err().to_string();
            assert!(
                e.contains("training_history.json") && e.contains(needle),
                "{e}"
            );
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            TrainingHistory::load_or_new(&path).unwrap(),
            TrainingHistory::new()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
