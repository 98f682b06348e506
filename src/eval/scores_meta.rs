//! The record beside a score table (`scores/<set>_scores.json` next to
//! `scores/<set>_scores.csv`): which session, id set and checkpoint produced the table, on
//! which grid, and its summary statistics (SPEC section 7 keeps summaries out of the CSV).
//! `inspect` reads it to say where each table came from; any JSON reader can.

use crate::eval::scores::ColumnSummary;
use crate::session::{SessionError, atomic_write, read_checkpoint_info};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` value that marks a file as voxflow's.
pub const FORMAT: &str = "voxflow-scores-1";

/// What a score table was computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoresMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// The session scored.
    pub session: String,
    /// `test`, `val` or `train`.
    pub set: String,
    /// The checkpoint file (absolute path, as it was when scored).
    pub checkpoint: PathBuf,
    /// The checkpoint's path relative to the session's directory, when it lies inside it: what
    /// `inspect` follows, so that a session moved or copied elsewhere finds its own file.
    #[serde(default)]
    pub checkpoint_in_session: Option<PathBuf>,
    /// The checkpoint's `data_crc32c` (hex, as in its metadata): tells whether the file at
    /// `checkpoint` still holds the weights scored (a later run may rewrite it, `voxflow new
    /// --force` moves it into `previous_N/`). Absent in records of older versions.
    #[serde(default)]
    pub checkpoint_crc32c: Option<String>,
    /// The epoch the checkpoint recorded.
    pub epoch: u32,
    /// For a checkpoint written when Ctrl-C cut its epoch short: the steps it had done.
    pub cut_short_after: Option<u64>,
    /// The network grid `[D, H, W]` the metrics were computed on.
    pub grid: [usize; 3],
    /// Rows of the table.
    pub samples: usize,
    /// Per metric: mean, std, median, p5, p95.
    pub summary: Vec<ColumnSummary>,
}

/// What the file a score record names holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointNow {
    /// The checkpoint scored.
    Same,
    /// Another checkpoint (a later run rewrote it).
    Replaced,
    /// Nothing (removed, or moved into `previous_N/` by `voxflow new --force`).
    Gone,
    /// Something that is not a readable checkpoint.
    Unreadable,
    /// Unknown: the record predates content fingerprints.
    Unrecorded,
}

impl CheckpointNow {
    /// A note for `inspect` after the checkpoint's name; empty when nothing changed or it is
    /// unknown.
    pub fn note(self) -> &'static str {
        match self {
            CheckpointNow::Same | CheckpointNow::Unrecorded => "",
            CheckpointNow::Replaced => "; that file now holds another checkpoint",
            CheckpointNow::Gone => "; that file is gone",
            CheckpointNow::Unreadable => "; that file is unreadable now",
        }
    }
}

impl ScoresMeta {
    /// The record's path for the table at `table` (`x.csv` → `x.json`).
    pub fn path_for(table: &Path) -> PathBuf {
        table.with_extension("json")
    }

    /// Writes the record beside `table` (atomically). A file there that is not a voxflow
    /// record is kept: returns `None` and writes nothing. When the write fails, an earlier
    /// record there is removed, so that it never describes the new table.
    pub fn write_beside(&self, table: &Path) -> Result<Option<PathBuf>, SessionError> {
        let path = Self::path_for(table);
        if path.exists() && Self::read_beside(table).is_none() {
            return Ok(None);
        }
        let written = self.write_to(&path);
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        written.map(|_| Some(path))
    }

    fn write_to(&self, path: &Path) -> Result<(), SessionError> {
        // Fails only for a path that is not UTF-8 (JSON holds text).
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| SessionError::invalid(path, format!("cannot record the table: {e}")))?;
        atomic_write(path, text.as_bytes())
    }

    /// The checkpoint file of a record read in the session at `session`: the session's own
    /// when the record says where in it, else the recorded absolute path.
    pub fn checkpoint_file(&self, session: &Path) -> PathBuf {
        use std::path::Component;
        match &self.checkpoint_in_session {
            // Only plain names lead into the session (no `..`, no absolute path).
            Some(rel) if rel.components().all(|c| matches!(c, Component::Normal(_))) => {
                session.join(rel)
            }
            _ => self.checkpoint.clone(),
        }
    }

    /// Whether `file` (from [`ScoresMeta::checkpoint_file`]) still holds the checkpoint scored.
    pub fn checkpoint_now(&self, file: &Path) -> CheckpointNow {
        match file.try_exists() {
            Ok(true) => {}
            Ok(false) => return CheckpointNow::Gone,
            Err(_) => return CheckpointNow::Unreadable,
        }
        let Some(scored) = &self.checkpoint_crc32c else {
            return CheckpointNow::Unrecorded;
        };
        match read_checkpoint_info(file) {
            Ok(info) if format!("{:08x}", info.meta.data_crc32c) == *scored => CheckpointNow::Same,
            Ok(_) => CheckpointNow::Replaced,
            Err(_) => CheckpointNow::Unreadable,
        }
    }

    /// The record beside `table`, if there is a readable voxflow one.
    pub fn read_beside(table: &Path) -> Option<ScoresMeta> {
        let text = std::fs::read_to_string(Self::path_for(table)).ok()?;
        serde_json::from_str::<ScoresMeta>(&text)
            .ok()
            .filter(|m| m.format == FORMAT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn written_beside_the_table_read_back_and_a_foreign_file_kept() {
        let dir = TempDir::new("scores-meta");
        let table = dir.0.join("test_scores.csv");
        let col = ColumnSummary {
            name: "dice".into(),
            mean: 0.75,
            std: 0.1,
            median: 0.8,
            p5: 0.6,
            p95: 0.9,
        };
        let m = ScoresMeta {
            format: FORMAT.into(),
            session: "demo".into(),
            set: "test".into(),
            checkpoint: "/s/c.safetensors".into(),
            checkpoint_in_session: Some("checkpoints/c.safetensors".into()),
            checkpoint_crc32c: Some("0123abcd".into()),
            epoch: 7,
            cut_short_after: Some(3),
            grid: [8, 9, 10],
            samples: 5,
            summary: vec![col],
        };
        let path = m.write_beside(&table).unwrap().unwrap();
        assert_eq!(path, dir.0.join("test_scores.json"));
        assert_eq!(ScoresMeta::read_beside(&table), Some(m.clone()));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["summary"][0]["mean"], 0.75);
        assert_eq!(json["epoch"], 7);
        // A record that cannot be written (a path JSON cannot hold) is an error, not a panic,
        // and leaves no earlier record to describe the new table.
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let mut odd = m.clone();
            odd.checkpoint = std::ffi::OsStr::from_bytes(b"/s/\xff.safetensors").into();
            let e = odd.write_beside(&table).unwrap_err().to_string();
            assert!(e.contains("cannot record the table"), "{e}");
            assert!(!path.exists());
            m.write_beside(&table).unwrap();
        }
        // A record of an older version, without the checkpoint's fingerprint, still reads.
        let mut old: serde_json::Value = serde_json::to_value(&m).unwrap();
        old.as_object_mut().unwrap().remove("checkpoint_crc32c");
        old.as_object_mut().unwrap().remove("checkpoint_in_session");
        std::fs::write(&path, old.to_string()).unwrap();
        let read = ScoresMeta::read_beside(&table).unwrap();
        assert_eq!(read.checkpoint_crc32c, None);
        let session = dir.0.as_path();
        assert_eq!(read.checkpoint_file(session), m.checkpoint);
        assert_eq!(read.checkpoint_now(&path), CheckpointNow::Unrecorded); // a file that exists
        // The session's own file, wherever the session is now; it names nothing here.
        let file = m.checkpoint_file(session);
        assert_eq!(file, dir.0.join("checkpoints/c.safetensors"));
        assert_eq!(m.checkpoint_now(&file), CheckpointNow::Gone);
        assert_eq!(read.checkpoint_now(&file), CheckpointNow::Gone);
        // A relative path that would leave the session is not followed.
        let mut out = m.clone();
        out.checkpoint_in_session = Some("../other/checkpoints/c.safetensors".into());
        assert_eq!(out.checkpoint_file(session), m.checkpoint);
        // A file of the user's at that name stays.
        std::fs::write(&path, "{\"mine\": 1}").unwrap();
        assert_eq!(m.write_beside(&table).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"mine\": 1}");
        assert_eq!(ScoresMeta::read_beside(&table), None);
    }
}
