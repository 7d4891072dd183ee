//! Delivery curves drawn as SVG (plotters' SVG backend): one line per broadcast, or a min/median/max band over many.
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

pub use curve::{Band, Curve, DeliveryTimes, FIRST_BUCKET_US, MAX_CURVE_POINTS, TIMELINE_BUCKETS};

use super::SimError;

/// More curves than this are drawn as one min/median/max band, not a line each.
pub const MAX_LINES: usize = 20;

/// Size of the picture, in SVG pixels.
pub const PLOT_SIZE: (u32, u32) = (1024, 640);

/// Room right of the last delivery, as a share of its time.
const X_HEADROOM: f64 = 0.05;

/// The x axis reaches at least this far (ms), so that a run with every
/// delivery at time 0 still has an axis.
const MIN_X_RANGE_MS: f64 = 1.0;

/// From this x range on (ms), tick labels are whole milliseconds.
const WHOLE_MS_FROM: f64 = 20.0;

/// A title naming what was run, e.g. `Delivery curve: model engine, w1, 10000 nodes, degree 8.0`.
pub fn title(engine: &str, workload: &str, nodes: u64, degree: f64) -> String {
    format!("Delivery curve: {engine} engine, {workload}, {nodes} nodes, degree {degree:.1}")
}

/// Draws `curves` on one chart (x: ms since the broadcast, y: fraction of
/// the nodes reached) under `title`, and writes it to `path` as SVG.
///
/// Up to [`MAX_LINES`] curves are drawn as a line each, labelled in the
/// legend with the fraction each ended at (curves with the same points are
/// drawn once, labelled as the first and how many others); more are drawn as
/// a [`Band`]: the median line inside the shaded range from the least to the
/// most reached at each time.
pub fn write_svg(path: &Path, title: &str, curves: &[Curve]) -> Result<(), SimError> {
    if curves.is_empty() {
        return Err(SimError::Plot(format!(
            "{}: no broadcasts to plot",
            path.display()
        )));
    }
    draw(path, title, curves).map_err(|e| SimError::Plot(format!("{}: {e}", path.display())))
}

/// The chart itself; plotters' errors are turned into `SimError` by the caller.
fn draw(path: &Path, title: &str, curves: &[Curve]) -> Result<(), Box<dyn std::error::Error>> {
    let end = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max);
    let x_max = (end * (1.0 + X_HEADROOM)).max(MIN_X_RANGE_MS);
    let root = SVGBackend::new(path, PLOT_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(20)
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
        .x_label_formatter(&|x| {
            if x_max >= WHOLE_MS_FROM {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        })
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;

    if curves.len() <= MAX_LINES {
        for (i, (c, same)) in distinct(curves).into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let style = color.stroke_width(2);
            let label = match same {
                0 => format!("{}, reached {:.3}", c.label, c.end_fraction()),
                n => format!(
                    "{} (+{n} identical), reached {:.3}",
                    c.label,
                    c.end_fraction()
                ),
            };
            chart
                .draw_series(LineSeries::new(c.points.iter().copied(), style))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    } else {
        draw_band(&mut chart, &Band::of(curves))?;
    }
    chart
        .configure_series_labels()
        // A delivery curve rises late: the top left is the empty corner.
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    root.present()?;
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

/// The shaded min..max range, its edges, and the median line.
fn draw_band(chart: &mut Chart<'_, '_>, band: &Band) -> Result<(), Box<dyn std::error::Error>> {
    let fill = BLUE.mix(0.18);
    let outline: Vec<(f64, f64)> = band
        .max
        .iter()
        .copied()
        .chain(band.min.iter().rev().copied())
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(outline, fill.filled())))?
        .label(format!("min to max of {} broadcasts", band.curves))
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], fill.filled()));
    let edge = BLUE.mix(0.45).stroke_width(1);
    chart.draw_series(LineSeries::new(band.min.iter().copied(), edge))?;
    chart.draw_series(LineSeries::new(band.max.iter().copied(), edge))?;
    let median = BLUE.stroke_width(3);
    chart
        .draw_series(LineSeries::new(band.median.iter().copied(), median))?
        .label("median")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], median));
    Ok(())
}
