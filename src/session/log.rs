//! The run log: every line printed is also appended to the session's `logs.txt`, after a
//! header line naming the time, the command and the voxflow version.

use crate::session::SessionError;
use crate::tensor::Device;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Prints lines and appends them to a log file.
pub struct Logger {
    sink: Sink,
}

/// Where a [`Logger`]'s lines go besides the screen.
enum Sink {
    /// No log file yet: lines are kept for the file [`Logger::attach`] opens.
    Pending(Vec<String>),
    File(PathBuf, File),
    /// Writing the file failed (reported once): screen only.
    Off,
}

impl Logger {
    /// A logger that prints and keeps its lines until [`Logger::attach`] (before the session
    /// directory exists).
    pub fn console() -> Logger {
        Logger {
            sink: Sink::Pending(Vec::new()),
        }
    }

    /// Opens `path` for appending and writes the run's header line.
    pub fn open(path: &Path) -> Result<Logger, SessionError> {
        let mut log = Logger::console();
        log.attach(path)?;
        Ok(log)
    }

    /// From now on also appends to `path`: writes the run's header line, then the lines
    /// printed so far.
    pub fn attach(&mut self, path: &Path) -> Result<(), SessionError> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| SessionError::io(path, e))?;
        let command: Vec<String> = std::env::args().collect();
        writeln!(
            f,
            "=== {} UTC | voxflow {} | {}",
            utc_now(),
            env!("CARGO_PKG_VERSION"),
            command.join(" ")
        )
        .map_err(|e| SessionError::io(path, e))?;
        let earlier = match std::mem::replace(&mut self.sink, Sink::File(path.to_path_buf(), f)) {
            Sink::Pending(lines) => lines,
            Sink::File(..) | Sink::Off => Vec::new(),
        };
        for line in earlier {
            self.file_only(&line);
        }
        Ok(())
    }

    /// Prints `line` and appends it to the log file. A failing log write is reported once on
    /// stderr and logging to the file stops; the run goes on.
    pub fn line(&mut self, line: &str) {
        crate::console::say(line);
        self.file_only(line);
    }

    /// Appends `line` to the log file without printing it (progress already on screen).
    pub fn file_only(&mut self, line: &str) {
        match &mut self.sink {
            Sink::Pending(lines) => lines.push(line.to_string()),
            Sink::File(path, f) => {
                if let Err(e) = writeln!(f, "{line}") {
                    eprintln!(
                        "warning: cannot write {}: {e}; logging to it stops",
                        path.display()
                    );
                    self.sink = Sink::Off;
                }
            }
            Sink::Off => {}
        }
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM:SS`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's civil-from-days formula).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The peak memory of this run for its progress lines: the host's (see [`peak_memory_mib`]),
/// and on a GPU the most its buffers have held (the caching allocator's peak; the CUDA context
/// comes on top).
pub fn peak_memory_text(device: Device) -> String {
    let host = peak_memory_mib()
        .map(|m| format!("{m:.0} MiB"))
        .unwrap_or_else(|| "n/a".into());
    match device {
        Device::Cuda(ordinal) => match crate::backend::cuda::runtime(ordinal) {
            Ok(rt) => format!(
                "{host} host, {:.0} MiB GPU",
                rt.pool_stats().peak_reserved as f64 / (1024.0 * 1024.0)
            ),
            Err(_) => host,
        },
        Device::Cpu | Device::Emu => host,
    }
}

/// Starts the host's peak-memory count afresh from the current resident memory (Linux: writes
/// 5 to `/proc/self/clear_refs`), so that the peak the epoch lines report is training's, not
/// that of the data preparation before it (memory the allocator keeps from that preparation
/// still counts: it is the process's). False where unsupported (nothing changes).
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), when known.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_memory_count_restarts() {
        if peak_memory_mib().is_none() || !reset_peak_memory() {
            return; // no VmHWM, or no way to reset it (not Linux, an old kernel, a sandbox)
        }
        // Touch 512 MiB, free it (a large block goes back to the system), reset: the peak drops
        // back by far more than other tests running beside this one could add meanwhile.
        let big = vec![1u8; 512 << 20];
        std::hint::black_box(&big);
        let high = peak_memory_mib().unwrap();
        assert!(high >= 510.0, "{high}");
        drop(big);
        reset_peak_memory();
        let after = peak_memory_mib().unwrap();
        assert!(after < high - 256.0, "{high} -> {after}");
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
    }

    #[test]
    fn log_appends_a_header_and_lines() {
        let dir = std::env::temp_dir().join(format!("voxflow-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("logs.txt");
        for run in 0..2 {
            let mut l = Logger::open(&path).unwrap();
            l.line(&format!("run {run}"));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("=== ").count(), 2, "{text}");
        assert!(text.contains("run 0\n") && text.contains("run 1\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lines_before_the_file_is_attached_follow_its_header() {
        let dir = std::env::temp_dir().join(format!("voxflow-log-early-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("logs.txt");
        let mut l = Logger::console();
        l.line("created session");
        l.file_only("quiet");
        l.attach(&path).unwrap();
        l.line("epoch 1");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("=== "), "{text}");
        assert_eq!(
            &lines[1..],
            ["created session", "quiet", "epoch 1"],
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
