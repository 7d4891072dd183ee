//! Delivery curves drawn as SVG (plotters' SVG backend): a line per distinct curve when they are few, else a min/median/max band; the legend under the chart.
//!
//! Nothing here knows an engine: any run that can say, per broadcast, when
//! each node had it builds [`Curve`]s (from sorted offsets with
//! [`Curve::from_offsets`], or from a [`DeliveryTimes`] recorded as it goes)
//! and hands them to [`write_svg`].
//!
//! ```
//! use peerchat::sim::plot::{self, Curve};
//!
//! let dir = std::env::temp_dir().join(format!("peerchat-plot-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let curve = Curve::from_offsets("broadcast 0", &[5.0, 10.0, 10.0, 15.0], 4);
//! let title = plot::title("model", "w1", 5, 1.6);
//! plot::write_svg(&dir.join("curve.svg"), &title, &[curve])?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod curve;

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use curve::{Band, Curve, DeliveryTimes, FIRST_BUCKET_US, MAX_CURVE_POINTS, TIMELINE_BUCKETS};

use super::SimError;

/// More distinct curves than this are drawn as one min/median/max band, not a
/// line each (identical curves count once: they would be drawn over each other).
pub const MAX_LINES: usize = 5;

/// Size of the picture, in SVG pixels (the legend's strip under the chart included).
pub const PLOT_SIZE: (u32, u32) = (1024, 640);

/// Room right of the last delivery, as a share of its time.
const X_HEADROOM: f64 = 0.05;

/// The x axis reaches at least this far (ms), so that a run with every
/// delivery at time 0 still has an axis.
const MIN_X_RANGE_MS: f64 = 1.0;

/// Most decimals a tick label shows (µs, on an axis in ms).
const TICK_DECIMALS: usize = 3;

/// Legend entries side by side under the chart.
const LEGEND_COLUMNS: u32 = 2;

/// Height of one row of legend entries, and the room above and below them (pixels).
const LEGEND_ROW: u32 = 26;
const LEGEND_PAD: u32 = 14;

/// Left margin of the chart and the legend (pixels).
const MARGIN: u32 = 20;

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

/// Draws `curves` on one chart (x: ms since the broadcast, y: fraction of
/// the nodes reached) under `title`, and writes it to `path` as SVG.
///
/// Up to [`MAX_LINES`] distinct curves are drawn as a line each, labelled
/// with the fraction each ended at (curves with the same points are drawn
/// once, labelled as the first and how many others); more are drawn as a
/// [`Band`]: the median line inside the shaded range from the least to the
/// most reached at each time. The legend is a strip under the chart, off
/// the data.
pub fn write_svg(path: &Path, title: &str, curves: &[Curve]) -> Result<(), SimError> {
    if curves.is_empty() {
        return Err(SimError::Plot(format!(
            "{}: no broadcasts to plot",
            path.display()
        )));
    }
    draw(path, title, curves).map_err(|e| SimError::Plot(format!("{}: {e}", path.display())))
}

/// How one legend entry's sample is drawn.
enum Swatch {
    Line(ShapeStyle),
    Fill(RGBAColor),
}

/// The chart itself; plotters' errors are turned into `SimError` by the caller.
fn draw(path: &Path, title: &str, curves: &[Curve]) -> Result<(), Box<dyn std::error::Error>> {
    let end = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let x_max = (end * (1.0 + X_HEADROOM)).max(MIN_X_RANGE_MS);
    let distinct = distinct(curves);
    let entries = if distinct.len() <= MAX_LINES {
        distinct.len()
    } else {
        2
    } as u32;
    let rows = entries.div_ceil(LEGEND_COLUMNS);
    let legend_height = 2 * LEGEND_PAD + rows * LEGEND_ROW;
    let root = SVGBackend::new(path, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(PLOT_SIZE.1 - legend_height);
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, ("sans-serif", 26))
        .margin(MARGIN)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("time since the broadcast (ms)")
        .y_desc("fraction of nodes reached")
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
        .y_labels(11)
        .x_labels(12)
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_label_formatter(&|x| tick(*x))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;

    let mut legend: Vec<(String, Swatch)> = Vec::new();
    if distinct.len() <= MAX_LINES {
        for (i, (c, same)) in distinct.into_iter().enumerate() {
            let style = Palette99::pick(i).to_rgba().stroke_width(2);
            chart.draw_series(LineSeries::new(c.points.iter().copied(), style))?;
            let label = match same {
                0 => format!("{}, reached {:.3}", c.label, c.end_fraction()),
                n => format!(
                    "{} (+{n} identical), reached {:.3}",
                    c.label,
                    c.end_fraction()
                ),
            };
            legend.push((label, Swatch::Line(style)));
        }
    } else {
        legend.extend(draw_band(&mut chart, &Band::of(curves))?);
    }
    draw_legend(&lower, &legend)?;
    root.present()?;
    Ok(())
}

/// A tick label in milliseconds: at most [`TICK_DECIMALS`] decimals, and
/// none that are zeros at the end (`2`, `2.5`, `0.25`, not `2.00`).
fn tick(ms: f64) -> String {
    let s = format!("{ms:.TICK_DECIMALS$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".into(),
        s => s.into(),
    }
}

/// The legend: its entries in [`LEGEND_COLUMNS`] columns, each a sample of
/// the line or fill beside its label.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    entries: &[(String, Swatch)],
) -> Result<(), Box<dyn std::error::Error>> {
    let column = (PLOT_SIZE.0 - 2 * MARGIN) / LEGEND_COLUMNS;
    let font = ("sans-serif", 16)
        .into_font()
        .into_text_style(area)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, (label, swatch)) in entries.iter().enumerate() {
        let k = k as u32;
        let x = (MARGIN + (k % LEGEND_COLUMNS) * column + 70) as i32;
        let y = (LEGEND_PAD + (k / LEGEND_COLUMNS) * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        match swatch {
            Swatch::Line(style) => {
                area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], *style))?;
            }
            Swatch::Fill(color) => {
                area.draw(&Rectangle::new(
                    [(x, y - 7), (x + 24, y + 7)],
                    color.filled(),
                ))?;
            }
        }
        area.draw(&Text::new(label.clone(), (x + 32, y), font.clone()))?;
    }
    Ok(())
}

/// Each curve whose points no earlier curve has, with how many later curves
/// have the same points (they would be drawn exactly over it).
fn distinct(curves: &[Curve]) -> Vec<(&Curve, usize)> {
    let mut out: Vec<(&Curve, usize)> = Vec::new();
    for c in curves {
        match out.iter_mut().find(|(d, _)| d.points == c.points) {
            Some((_, same)) => *same += 1,
            None => out.push((c, 0)),
        }
    }
    out
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The shaded min..max range, its edges, and the median line; returns their legend entries.
fn draw_band(
    chart: &mut Chart<'_, '_>,
    band: &Band,
) -> Result<Vec<(String, Swatch)>, Box<dyn std::error::Error>> {
    let fill = BLUE.mix(0.18);
    let outline: Vec<(f64, f64)> = band
        .max
        .iter()
        .copied()
        .chain(band.min.iter().rev().copied())
        .collect();
    chart.draw_series(std::iter::once(Polygon::new(outline, fill.filled())))?;
    let edge = BLUE.mix(0.45).stroke_width(1);
    chart.draw_series(LineSeries::new(band.min.iter().copied(), edge))?;
    chart.draw_series(LineSeries::new(band.max.iter().copied(), edge))?;
    let median = BLUE.stroke_width(3);
    chart.draw_series(LineSeries::new(band.median.iter().copied(), median))?;
    Ok(vec![
        (
            format!("min to max of {} broadcasts", band.curves),
            Swatch::Fill(fill),
        ),
        ("median".into(), Swatch::Line(median)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tick labels are milliseconds without trailing zeros.
    #[test]
    fn tick_labels() {
        let ticks: Vec<String> = [0.0, 2.0, 2.5, 0.25, 12.125, 1e-9, 40.0]
            .into_iter()
            .map(tick)
            .collect();
        assert_eq!(ticks, ["0", "2", "2.5", "0.25", "12.125", "0", "40"]);
    }
}
