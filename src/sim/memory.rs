//! What the process uses, from `/proc`: peak and current RSS, CPU time, MemAvailable; and the estimate that refuses runs that cannot fit.

use super::SimError;

/// Bytes one model node takes beyond its links: its `NodeState` (tables, a
/// seen-cache holding 20 broadcasts), the simulator's per-node bookkeeping,
/// the event queue's share and the allocator's. From peak RSS of W1 (20
/// broadcasts) at N = 100,000 on a ring (5,177 bytes per node) and on the
/// random graph of degree 8 (8,448): see BENCH-RESULTS.md.
pub const NODE_BYTES: u64 = 4_100;

/// Bytes one link takes, both ends: two connection entries and two peer
/// entries in the nodes' tables, two simulator link ends, the flood's queued
/// frames. Measured as for [`NODE_BYTES`].
pub const LINK_BYTES: u64 = 1_100;

/// Share of MemAvailable a run may plan to use; the rest is left for the
/// event queue's peaks and the rest of the machine.
pub const MEMORY_BUDGET_SHARE: f64 = 0.8;

/// Peak resident set of this process (`VmHWM`), in bytes.
pub fn peak_rss() -> Option<u64> {
    proc_kib("/proc/self/status", "VmHWM:")
}

/// Current resident set of this process (`VmRSS`), in bytes.
pub fn current_rss() -> Option<u64> {
    proc_kib("/proc/self/status", "VmRSS:")
}

/// Memory the kernel says can be had without swapping (`MemAvailable`), in bytes.
pub fn mem_available() -> Option<u64> {
    proc_kib("/proc/meminfo", "MemAvailable:")
}

/// Bytes a model run of `nodes` nodes at average degree `degree` is expected to take.
pub fn estimate(nodes: u64, degree: f64) -> u64 {
    let links = nodes as f64 * degree / 2.0;
    nodes * NODE_BYTES + (links * LINK_BYTES as f64) as u64
}

/// Refuses a run that would not fit in [`MEMORY_BUDGET_SHARE`] of MemAvailable,
/// naming the largest node count that would. Passes when `/proc` cannot be read.
pub fn check_fits(nodes: u64, degree: f64) -> Result<(), SimError> {
    let Some(available) = mem_available() else {
        return Ok(());
    };
    let budget = (available as f64 * MEMORY_BUDGET_SHARE) as u64;
    let need = estimate(nodes, degree);
    if need <= budget {
        return Ok(());
    }
    let per_node = estimate(1_000_000, degree) as f64 / 1_000_000.0;
    Err(SimError::TooBig {
        nodes,
        degree,
        need_mib: need >> 20,
        budget_mib: budget >> 20,
        share: (MEMORY_BUDGET_SHARE * 100.0).round() as u32,
        available_mib: available >> 20,
        max_nodes: (budget as f64 / per_node) as u64,
    })
}

/// Linux's clock tick for `/proc/self/stat` CPU times.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU seconds of this process so far (Linux `/proc/self/stat`).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after ")".
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SEC)
}

/// Peak RSS less `before` (a [`current_rss`] reading from before the first
/// node was built), over `nodes`: what each node took at most, with its links.
pub fn rss_per_node(before: Option<u64>, nodes: u64) -> u64 {
    let grown = peak_rss().unwrap_or(0).saturating_sub(before.unwrap_or(0));
    grown / nodes.max(1)
}

/// Reads a `Key:   123 kB` line of a `/proc` file, in bytes.
fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process has a resident set, and the machine some memory.
    #[test]
    fn reads_proc() {
        assert!(peak_rss().unwrap() >= current_rss().unwrap() / 2);
        assert!(mem_available().unwrap() > 0);
        let before = cpu_seconds().unwrap();
        let spin = (0..2_000_000u64).fold(0u64, |a, x| a.wrapping_add(x * x));
        assert!(spin > 0 && cpu_seconds().unwrap() >= before);
        assert!(rss_per_node(current_rss(), 1) <= peak_rss().unwrap());
    }

    /// A run far beyond any machine is refused with the largest size that fits.
    #[test]
    fn refuses_huge_runs() {
        let err = check_fits(1 << 40, 8.0).unwrap_err();
        assert!(matches!(err, SimError::TooBig { max_nodes, .. } if max_nodes > 0));
        assert!(check_fits(1000, 8.0).is_ok());
    }
}
