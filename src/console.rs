//! Standard output that a closed reader cannot crash: `println!` panics when stdout is a pipe
//! whose reader has gone (`train ... | head`), which would stop a training run (or an eval
//! before its table is written) for want of an audience. These write and ignore failures; the
//! session's logs.txt still gets every line.

use std::io::Write;

/// Prints `line` and a line break.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Prints `text` as it is.
pub fn say_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
