//! Step progress: a bar (epoch, step, loss, steps/s, ETA) on a terminal, plain lines
//! otherwise; the plain lines also go to the log.

use crate::session::log::Logger;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Progress of one epoch.
pub struct Progress {
    bar: Option<ProgressBar>,
    epoch: u32,
    epochs: u32,
    steps: usize,
    /// Steps done before this run (an epoch resumed part-way).
    first: usize,
    every: usize,
    start: Instant,
}

impl Progress {
    /// Starts the display for `steps` steps of `epoch`, of which `first` are already done.
    pub fn new(epoch: u32, epochs: u32, steps: usize, first: usize) -> Progress {
        let bar = std::io::stdout().is_terminal().then(|| {
            let b = ProgressBar::new(steps as u64);
            b.set_position(first as u64);
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} | {msg} | {per_sec} | ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(format!("{epoch}/{epochs}"));
            b
        });
        Progress {
            bar,
            epoch,
            epochs,
            steps,
            first,
            every: (steps / 5).max(1),
            start: Instant::now(),
        }
    }

    /// Reports that `done` steps are finished with mean loss `loss`.
    pub fn step(&mut self, done: usize, loss: f64, log: &mut Logger) {
        match &self.bar {
            Some(b) => {
                b.set_message(format!("loss {loss:.5}"));
                b.set_position(done as u64);
            }
            None if done.is_multiple_of(self.every) || done == self.steps => {
                let secs = self.start.elapsed().as_secs_f64().max(1e-9);
                let rate = done.saturating_sub(self.first) as f64 / secs;
                let eta = (self.steps - done) as f64 / rate.max(1e-9);
                log.line(&format!(
                    "epoch {}/{} step {done}/{} | loss {loss:.5} | {rate:.2} steps/s | ETA {eta:.0} s",
                    self.epoch, self.epochs, self.steps
                ));
            }
            None => {}
        }
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
