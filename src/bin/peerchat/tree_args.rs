//! The broadcast tree's settings as `sim` flags (defaults as in docs/PROTOCOL.md).

use std::time::Duration;

use clap::Args;
use peerchat::config::{self, TreeConfig};

/// The tree's announcement window, fan-out, sweep and graft timeouts.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Lazy links each new broadcast is announced on at once.
    #[arg(long, value_name = "N", default_value_t = config::LAZY_FANOUT)]
    lazy_fanout: usize,
    /// Announcements for a link are gathered this long (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::IHAVE_WINDOW))]
    ihave_window_ms: u64,
    /// Every lazy link hears of everything new this often (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::IHAVE_SWEEP))]
    ihave_sweep_ms: u64,
    /// Wait this long for an announced broadcast before asking for it (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::GRAFT_TIMEOUT))]
    graft_timeout_ms: u64,
    /// A lazy link announcing a path shorter by this many rounds replaces the eager one.
    #[arg(long, value_name = "N", default_value_t = config::OPTIMIZE_ROUNDS)]
    optimize_rounds: u32,
    /// The learned waits before a graft and before asking the next announcer grow up to this (ms; equal to --graft-timeout-ms: no learning).
    #[arg(long, value_name = "MS", default_value_t = ms(config::GRAFT_TIMEOUT_MAX))]
    graft_timeout_max_ms: u64,
    /// With no announcer left, wait this long more for the last graft's answer on a live link (ms; 0: none).
    #[arg(long, value_name = "MS", default_value_t = ms(config::GRAFT_PATIENCE))]
    graft_patience_ms: u64,
    /// Then wait this long before asking the next announcer (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::GRAFT_RETRY))]
    graft_retry_ms: u64,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl TreeArgs {
    /// The tree settings these flags give (the rest at their defaults).
    pub fn config(&self) -> TreeConfig {
        TreeConfig {
            lazy_fanout: self.lazy_fanout,
            ihave_window: Duration::from_millis(self.ihave_window_ms),
            ihave_sweep: Duration::from_millis(self.ihave_sweep_ms),
            graft_timeout: Duration::from_millis(self.graft_timeout_ms),
            graft_retry: Duration::from_millis(self.graft_retry_ms),
            graft_timeout_max: Duration::from_millis(self.graft_timeout_max_ms),
            graft_patience: Duration::from_millis(self.graft_patience_ms),
            optimize_rounds: self.optimize_rounds,
            ..TreeConfig::default()
        }
    }
}
