//! The SVG drawing of delivery curves (plotters' SVG backend; the `plot` feature).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;

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
