//! The progress hook a simulation calls during setup and long runs; the library never draws it, a caller (the CLI's bar) does.

use std::fmt;

/// Told how far a simulation has got. Every method defaults to doing nothing.
///
/// A run calls [`Progress::stage`] when a phase begins (`building`,
/// `connecting`, `broadcasting`, ...), then [`Progress::advance`] with how
/// many of that stage's units are done (an absolute count, not a step), and
/// [`Progress::finish`] once at the end. Calls come from the thread that runs
/// the simulation, a few per second at most, so an implementation may be slow.
pub trait Progress: Send + Sync {
    /// A stage named `name` of `total` units begins (0: the total is unknown).
    fn stage(&self, name: &str, total: u64) {
        let _ = (name, total);
    }

    /// `done` units of the current stage are done.
    fn advance(&self, done: u64) {
        let _ = done;
    }

    /// The run is over (successfully or not).
    fn finish(&self) {}
}

impl fmt::Debug for dyn Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Progress")
    }
}

/// A [`Progress`] that ignores everything: what a run uses when given none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Calls [`Progress::finish`] when dropped, so that a run that fails half-way
/// still ends its caller's bar.
pub(crate) struct FinishOnDrop<'a>(pub(crate) &'a dyn Progress);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Remembers every call, for the assertions below.
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Progress for Log {
        fn stage(&self, name: &str, total: u64) {
            self.0.lock().unwrap().push(format!("{name}/{total}"));
        }
        fn advance(&self, done: u64) {
            self.0.lock().unwrap().push(done.to_string());
        }
        fn finish(&self) {
            self.0.lock().unwrap().push("finish".into());
        }
    }

    /// A guard finishes the progress even when its scope ends early.
    #[test]
    fn finish_on_drop() {
        let log = Log::default();
        {
            let _guard = FinishOnDrop(&log);
            log.stage("connecting", 2);
            log.advance(1);
        }
        assert_eq!(*log.0.lock().unwrap(), ["connecting/2", "1", "finish"]);
        NoProgress.stage("x", 1);
        NoProgress.finish();
    }
}
