//! Ctrl-C for long commands (training, registration): the first press asks the running loop to
//! stop after its current step (training then writes a checkpoint; registration keeps the
//! transform so far); a second press exits at once.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
/// What the first press says the loop will do, set by the last [`install`].
static ON_FIRST: std::sync::Mutex<&str> = std::sync::Mutex::new("stopping after the current step");

/// Installs the handler (once per process; later calls only change `on_first`, what the first
/// press says will happen).
pub fn install(on_first: &'static str) {
    *ON_FIRST.lock().unwrap_or_else(|e| e.into_inner()) = on_first;
    INSTALL.call_once(|| {
        let result = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted twice: exiting now");
                std::process::exit(130);
            }
            let what = *ON_FIRST.lock().unwrap_or_else(|e| e.into_inner());
            eprintln!("\ninterrupt: {what}");
        });
        if let Err(e) = result {
            eprintln!("warning: Ctrl-C handling unavailable ({e}); Ctrl-C will stop at once");
        }
    });
}

/// Asks a running loop to stop after its current step, as Ctrl-C does (for programs embedding
/// the trainer, and for tests).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// True once Ctrl-C was pressed (or [`request`] called).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Forgets a request; [`crate::train::train`] and `voxflow register` call it when they return,
/// so that a program embedding them can run again in the same process.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
