//! One writer per session: `train` (and `voxflow new --force`) hold an operating-system lock
//! on `train.lock` in the session while they change it, so a second run started on the same
//! session by mistake stops at once instead of interleaving its checkpoints, history and events
//! with the first one's.
//!
//! The lock is the kernel's (`flock`), released when its holder exits however it exits (a
//! Ctrl-C, a crash, `kill -9`): no stale lock is ever left to clean up. The file itself stays
//! and names its last holder (`pid`, `host`, `command`, `started` as Unix seconds), which the
//! error of a refused run and `voxflow inspect` quote while it is held.

use super::paths::SessionPaths;
use super::{Result, SessionError};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};

/// `ENOLCK` ("no locks available": a network file system without a lock service).
const ENOLCK: i32 = 37;

/// The holder a lock file names.
#[derive(Clone, Debug, PartialEq)]
pub struct LockHolder {
    /// Its process id.
    pub pid: u32,
    /// The machine it runs on.
    pub host: String,
    /// What it is (`train`, `voxflow new`).
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

    /// "`train` (process 123 on host, started at Unix time …)".
    pub fn describe(&self) -> String {
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

/// The holder named in a lock file (best effort: `None` if unreadable).
fn read_holder(f: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut text).ok()?;
    LockHolder::parse(&text)
}

/// The run holding the session's lock now, if any (`Some` with an unknown holder when the
/// file does not say).
pub fn lock_holder(paths: &SessionPaths) -> Option<Option<LockHolder>> {
    let mut f = File::open(paths.lock()).ok()?;
    match f.try_lock_shared() {
        Ok(()) => None, // free: released when `f` closes
        Err(TryLockError::WouldBlock) => Some(read_holder(&mut f)),
        Err(TryLockError::Error(_)) => None,
    }
}

/// A held session lock; dropping it (or the process ending) releases the session.
#[derive(Debug)]
pub struct SessionLock {
    _file: Option<File>,
    /// Where the file system cannot lock files (some network mounts): why the session runs
    /// unlocked, for a warning.
    pub unavailable: Option<String>,
}

impl SessionLock {
    /// Takes the lock of the session for `command` (e.g. `train`), or fails naming the run that
    /// holds it.
    pub fn acquire(paths: &SessionPaths, command: &str) -> Result<SessionLock> {
        let path = paths.lock();
        let io = |e| SessionError::io(&path, e);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A `voxflow inspect` looking at the lock holds it shared for an instant: retry briefly.
        let mut tries = 0;
        let locked = loop {
            match f.try_lock() {
                Err(TryLockError::WouldBlock) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other,
            }
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::Error(e))
                if e.kind() == std::io::ErrorKind::Unsupported
                    || e.raw_os_error() == Some(ENOLCK) =>
            {
                let why = format!(
                    "{}: the file system cannot lock files ({e}); nothing stops a second run \
                     on this session",
                    path.display()
                );
                return Ok(SessionLock {
                    _file: None,
                    unavailable: Some(why),
                });
            }
            Err(TryLockError::WouldBlock) => {
                let who = read_holder(&mut f)
                    .map(|h| h.describe())
                    .unwrap_or_else(|| "another run".into());
                return Err(SessionError::Busy {
                    session: paths.name().to_string(),
                    holder: who,
                    lock: path.clone(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let text = LockHolder::this(command).to_text();
        f.set_len(0)
            .and_then(|_| f.rewind())
            .and_then(|_| f.write_all(text.as_bytes()))
            .and_then(|_| f.flush())
            .map_err(io)?;
        Ok(SessionLock {
            _file: Some(f),
            unavailable: None,
        })
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
        assert_eq!(lock_holder(&p), None, "no lock file yet");
        let held = SessionLock::acquire(&p, "train").unwrap();
        let holder = lock_holder(&p).unwrap().unwrap();
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
        assert_eq!(lock_holder(&p), None, "released");
        // The file stays, naming its last holder; it is no obstacle.
        assert!(p.lock().is_file());
        let again = SessionLock::acquire(&p, "voxflow new --force").unwrap();
        let holder = lock_holder(&p).unwrap().unwrap();
        assert_eq!(holder.command, "voxflow new --force");
        drop(again);
    }

    #[test]
    fn a_lock_file_left_behind_or_garbled_is_no_obstacle() {
        let dir = TempDir::new("lock-left");
        let p = session(&dir);
        std::fs::write(p.lock(), "pid = 1\nhost = elsewhere\ncommand = train\n").unwrap();
        assert_eq!(lock_holder(&p), None, "a file nobody locks holds nothing");
        let held = SessionLock::acquire(&p, "train").unwrap();
        assert_eq!(lock_holder(&p).unwrap().unwrap().pid, std::process::id());
        drop(held);
        std::fs::write(p.lock(), "\u{0}garbage").unwrap();
        let held = SessionLock::acquire(&p, "train").unwrap();
        std::fs::write(p.lock(), "\u{0}garbage").unwrap();
        let e = SessionLock::acquire(&p, "train").unwrap_err().to_string();
        assert!(e.contains("being changed by another run"), "{e}");
        assert_eq!(lock_holder(&p), Some(None));
        drop(held);
    }
}
