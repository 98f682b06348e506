//! One writer per session: `train` (and `voxflow new --force`) hold `train.lock` in the session
//! while they change it, so a second run started on the same session by mistake stops at once
//! instead of interleaving its checkpoints, history and events with the first one's.
//!
//! The file names its holder (`pid`, `host`, `command`, `started` as Unix seconds). A lock left
//! by a process that no longer runs on this host (killed, crashed) is taken over; one held by
//! a process of another host (a shared file system) cannot be checked, and the error says
//! which file to delete once no run is active. The lock is removed when its guard is dropped.

use super::paths::SessionPaths;
use super::{Result, SessionError};
use std::io::Write;
use std::path::PathBuf;

/// The holder recorded in a lock file.
#[derive(Clone, Debug, PartialEq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// Unix seconds.
    pub started: u64,
}

impl LockHolder {
    fn this(command: &str) -> Self {
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    fn to_text(&self) -> String {
        format!(
            "pid = {}\nhost = {}\ncommand = {}\nstarted = {}\n",
            self.pid, self.host, self.command, self.started
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.split_once(" = ").filter(|(key, _)| *key == k))
                .map(|(_, v)| v.trim().to_string())
        };
        Some(LockHolder {
            pid: field("pid")?.parse().ok()?,
            host: field("host")?,
            command: field("command").unwrap_or_default(),
            started: field("started").and_then(|v| v.parse().ok()).unwrap_or(0),
        })
    }

    /// Whether the holder still runs: `None` when that cannot be known (another host, or no
    /// `/proc`).
    fn alive(&self) -> Option<bool> {
        let proc = std::path::Path::new("/proc");
        if self.host != host_name() || !proc.join("self").exists() {
            return None;
        }
        Some(proc.join(self.pid.to_string()).exists())
    }

    fn describe(&self) -> String {
        format!(
            "`{}` (process {} on {}, started at Unix time {})",
            self.command, self.pid, self.host, self.started
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The holder of a session's lock, if a live (or uncheckable) one holds it.
pub fn lock_holder(paths: &SessionPaths) -> Option<LockHolder> {
    let holder = LockHolder::parse(&std::fs::read_to_string(paths.lock()).ok()?)?;
    (holder.alive() != Some(false)).then_some(holder)
}

/// A held session lock; dropping it releases the session.
#[derive(Debug)]
pub struct SessionLock {
    path: PathBuf,
    /// The holder of a stale lock this one replaced, for a note.
    pub replaced: Option<LockHolder>,
}

impl SessionLock {
    /// Takes the lock of the session for `command` (e.g. `train`), or fails naming the run that
    /// holds it.
    pub fn acquire(paths: &SessionPaths, command: &str) -> Result<SessionLock> {
        let path = paths.lock();
        let me = LockHolder::this(command);
        let mut replaced = None;
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(me.to_text().as_bytes())
                        .map_err(|e| SessionError::io(&path, e))?;
                    return Ok(SessionLock { path, replaced });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = LockHolder::parse(&text);
                    match holder.as_ref().map(LockHolder::alive) {
                        // Left by a run that has ended without removing it: take it over.
                        Some(Some(false)) => {
                            let _ = std::fs::remove_file(&path);
                            replaced = holder;
                        }
                        Some(Some(true)) => {
                            return Err(SessionError::Usage(format!(
                                "session {} is being changed by {}: wait for it to end or stop \
                                 it (its lock: {})",
                                paths.name(),
                                holder.expect("parsed").describe(),
                                path.display()
                            )));
                        }
                        _ => {
                            let who = holder
                                .map(|h| h.describe())
                                .unwrap_or_else(|| "an unknown run".into());
                            return Err(SessionError::Usage(format!(
                                "session {} is locked by {who}, which cannot be checked from \
                                 here; if no run is using the session, delete {}",
                                paths.name(),
                                path.display()
                            )));
                        }
                    }
                }
                Err(e) => return Err(SessionError::io(&path, e)),
            }
        }
        Err(SessionError::Usage(format!(
            "session {}: another run took {} while a stale lock was being replaced",
            paths.name(),
            path.display()
        )))
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn session(dir: &TempDir) -> SessionPaths {
        let p = SessionPaths::new(&dir.0, "s").unwrap();
        std::fs::create_dir_all(p.dir()).unwrap();
        p
    }

    #[test]
    fn a_second_run_is_refused_until_the_first_lets_go() {
        let dir = TempDir::new("lock");
        let p = session(&dir);
        let held = SessionLock::acquire(&p, "train").unwrap();
        assert_eq!(held.replaced, None);
        let holder = lock_holder(&p).unwrap();
        assert_eq!(
            (holder.pid, holder.command.as_str()),
            (std::process::id(), "train")
        );
        let e = SessionLock::acquire(&p, "voxflow new --force")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("session s is being changed by `train` (process")
                && e.contains("train.lock"),
            "{e}"
        );
        drop(held);
        assert!(!p.lock().exists());
        assert_eq!(lock_holder(&p), None);
        SessionLock::acquire(&p, "train").unwrap();
    }

    #[test]
    fn a_stale_lock_is_taken_over_and_a_foreign_one_is_not() {
        let dir = TempDir::new("lock-stale");
        let p = session(&dir);
        if !std::path::Path::new("/proc/self").exists() {
            return; // liveness cannot be checked here
        }
        // No process has this pid (above the kernel's maximum).
        let dead = LockHolder {
            pid: 4_194_305,
            host: host_name(),
            command: "train".into(),
            started: 1,
        };
        std::fs::write(p.lock(), dead.to_text()).unwrap();
        assert_eq!(lock_holder(&p), None, "a dead holder holds nothing");
        let l = SessionLock::acquire(&p, "train").unwrap();
        assert_eq!(l.replaced, Some(dead));
        drop(l);
        let foreign = LockHolder {
            pid: 1,
            host: "other-host".into(),
            command: "train".into(),
            started: 1,
        };
        std::fs::write(p.lock(), foreign.to_text()).unwrap();
        let e = SessionLock::acquire(&p, "train").unwrap_err().to_string();
        assert!(
            e.contains("other-host") && e.contains("delete") && e.contains("train.lock"),
            "{e}"
        );
        assert!(p.lock().exists(), "a lock that cannot be checked stays");
    }
}
