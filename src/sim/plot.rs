//! Delivery curves drawn as SVG (plotters' SVG backend): a line per distinct curve when they are few, else a min/median/max band; the legend under the chart.
//!
//! Nothing here knows an engine: any run that can say, per broadcast, when
//! each node had it builds [`Curve`]s (from sorted offsets with
//! [`Curve::from_offsets`], or from a [`DeliveryTimes`] recorded as it goes)
//! and hands them to `write_svg` (with the `plot` feature, on by default).
//!
//! ```
//! # #[cfg(feature = "plot")] {
//! use peerchat::sim::plot::{self, Curve};
//!
//! let dir = std::env::temp_dir().join(format!("peerchat-plot-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let curve = Curve::from_offsets("broadcast 0", &[5.0, 10.0, 10.0, 15.0], 4);
//! let title = plot::title("model", "w1", 5, 1.6);
//! plot::write_svg(&dir.join("curve.svg"), &title, &[curve])?;
//! # std::fs::remove_dir_all(&dir)?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod curve;
#[cfg(feature = "plot")]
mod svg;

use std::path::Path;

pub use curve::{Band, Curve, DeliveryTimes, FIRST_BUCKET_US, MAX_CURVE_POINTS, TIMELINE_BUCKETS};

use super::SimError;
#[cfg(feature = "plot")]
pub use svg::write_svg;

/// More distinct curves than this are drawn as one min/median/max band, not a
/// line each (identical curves count once: they would be drawn over each other).
pub const MAX_LINES: usize = 5;

/// Size of the picture, in SVG pixels (the legend's strip under the chart included).
pub const PLOT_SIZE: (u32, u32) = (1024, 640);

/// A title naming what was run, e.g. `Delivery curve: model engine, w1, 10000 nodes, degree 8.0`.
pub fn title(engine: &str, workload: &str, nodes: u64, degree: f64) -> String {
    format!("Delivery curve: {engine} engine, {workload}, {nodes} nodes, degree {degree:.1}")
}

/// Refuses a plot target that could not be written, before a run spends
/// its time: its folder must exist and be a folder this process can write
/// in, and the path must not be a folder. Checked by creating the file (and
/// removing it again if it was not there), so permissions are not guessed.
pub fn check_target(path: &Path) -> Result<(), SimError> {
    let bad = |why: String| SimError::Plot(format!("{}: {why}", path.display()));
    if path.is_dir() {
        return Err(bad("is a folder; give a file name (e.g. curve.svg)".into()));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        let what = if folder.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(bad(format!("the folder {} {what}", folder.display())));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| bad(format!("cannot be written: {e}")))?;
    if !existed {
        std::fs::remove_file(path).map_err(|e| bad(format!("cannot be removed again: {e}")))?;
    }
    Ok(())
}
