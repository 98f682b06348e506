//! Ctrl-C during training: the first press asks the loop to stop after the current step (it
//! then writes a checkpoint and exits); a second press exits at once.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    INSTALL.call_once(|| {
        let result = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted twice: exiting now");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current step, then writing a checkpoint");
        });
        if let Err(e) = result {
            eprintln!("warning: Ctrl-C handling unavailable ({e}); Ctrl-C will stop at once");
        }
    });
}

/// Asks a running training loop to stop after its current step, as Ctrl-C does (for programs
/// embedding the trainer, and for tests).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// True once Ctrl-C was pressed (or [`request`] called).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Forgets a request; [`crate::train::train`] calls it when it returns, so that a program
/// embedding the trainer can train again in the same process.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}
