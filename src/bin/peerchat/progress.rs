//! The terminal progress bar of `peerchat sim`: the library's `sim::Progress` hook drawn with indicatif on stderr.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use peerchat::sim::Progress;

/// How often the spinner of a stage without a known total turns.
const SPIN_INTERVAL: Duration = Duration::from_millis(120);

/// A stage with a total: its name, time so far, the bar, counts and the time left.
const COUNTED: &str =
    "{prefix:>12} [{elapsed_precise}] [{wide_bar}] {human_pos}/{human_len} (eta {eta})";

/// A stage without a total (building the topology and the nodes).
const SPINNING: &str = "{prefix:>12} [{elapsed_precise}] {spinner}";

/// One line per stage on stderr, each left as it ended when the next begins.
/// indicatif draws only when stderr is a terminal, so a pipe or a file (and
/// `--json` on stdout) sees nothing of it.
pub struct Bar {
    counted: ProgressStyle,
    spinning: ProgressStyle,
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub fn new() -> Result<Bar> {
        Ok(Bar {
            counted: ProgressStyle::with_template(COUNTED)?.progress_chars("=> "),
            // The last string is what a finished stage shows.
            spinning: ProgressStyle::with_template(SPINNING)?
                .tick_strings(&["-", "\\", "|", "/", "done"]),
            current: Mutex::new(None),
        })
    }

    /// The bar of the current stage, if any (a poisoned lock still holds it).
    fn with_current(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut current);
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        self.with_current(|current| {
            if let Some(done) = current.take() {
                done.finish();
            }
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_prefix(name.to_string());
            if total == 0 {
                bar.set_style(self.spinning.clone());
                bar.enable_steady_tick(SPIN_INTERVAL);
            } else {
                bar.set_style(self.counted.clone());
            }
            *current = Some(bar);
        });
    }

    fn advance(&self, done: u64) {
        self.with_current(|current| {
            if let Some(bar) = current {
                bar.set_position(done);
            }
        });
    }

    fn finish(&self) {
        self.with_current(|current| {
            if let Some(bar) = current.take() {
                bar.finish();
            }
        });
    }
}
