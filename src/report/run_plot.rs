//! Pictures of a run: the time series of a [`RunReport`] as SVG charts.
//!
//! [`write_run_plots`] writes five charts into a directory; each also has a pure function
//! returning its SVG document ([`arrivals_svg`], [`replicas_svg`], [`ttp_svg`], [`ttr_svg`],
//! [`placement_svg`]). The x axis is simulated time in seconds. Figures over an interval
//! (rates, means) are drawn at the interval's midpoint; states sampled at an interval's end
//! (replicas, pods per tier) at its end. An interval without a value (`None`) leaves a gap.
//!
//! Legends sit in a strip right of the plotting area, so they never cover data. Colours come
//! from a fixed palette and nothing depends on the clock or on hashing: the same report gives
//! byte-identical SVG. Text is emitted as SVG `<text>` elements (no font files are read; the
//! viewer renders them).
//!
//! A report without time series cannot be drawn: every function returns
//! `PlotError::Draw("no time series")`. A report with time series but no services draws the
//! request charts as usual and the per-service charts as one empty panel.

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::fit_plot::{PlotError, draw_error};
use crate::sim::report::{IntervalRow, IntervalService, RunReport};

/// The files [`write_run_plots`] writes, in order.
pub const RUN_PLOT_FILES: [&str; 5] = [
    "arrivals.svg",
    "replicas.svg",
    "ttp.svg",
    "ttr.svg",
    "placement.svg",
];

/// Width of every chart and height of a single-panel one, in pixels.
const SIZE: (u32, u32) = (960, 540);
/// Height of one panel in a chart with a panel per service.
const PANEL_HEIGHT: u32 = 240;
/// Width of the legend strip right of the plotting area.
const LEGEND_WIDTH: u32 = 210;
/// Opacity of the stacked areas.
const AREA_OPACITY: f64 = 0.8;

use super::palette::{ALERT, PALETTE};

/// The colour of service `i`.
fn service_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The colour of location tier `k`: local (0) is green.
fn tier_color(k: usize) -> RGBColor {
    const ORDER: [usize; 9] = [2, 0, 1, 3, 4, 5, 6, 7, 8];
    PALETTE[ORDER[k % ORDER.len()]]
}

/// A count per interval, read off a row.
type Count = fn(&IntervalRow) -> u64;
/// A latency per interval, read off a row.
type Latency = fn(&IntervalRow) -> Option<f64>;
type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Writes the run's charts into `dir` (created if missing) and returns the files written, in
/// a fixed order (that of [`RUN_PLOT_FILES`]).
///
/// Every chart is drawn before anything is written, so a drawing error writes nothing.
///
/// # Errors
/// [`PlotError::Draw`] when the report has no time series, when plotters fails, or when `dir`
/// cannot be created or a file cannot be written.
pub fn write_run_plots(report: &RunReport, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let charts = [
        arrivals_svg(report)?,
        replicas_svg(report)?,
        ttp_svg(report)?,
        ttr_svg(report)?,
        placement_svg(report)?,
    ];
    let io = |what: &str, path: &Path, e: std::io::Error| {
        PlotError::Draw(format!("{what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    RUN_PLOT_FILES
        .iter()
        .zip(charts)
        .map(|(name, svg)| {
            let path = dir.join(name);
            std::fs::write(&path, svg).map_err(|e| io("cannot write", &path, e))?;
            Ok(path)
        })
        .collect()
}

/// The time axis shared by every chart.
struct Time {
    /// From the first interval's start to the last one's end, in seconds.
    x: Range<f64>,
    /// The interval, in seconds.
    width: f64,
}

impl Time {
    fn of(rows: &[IntervalRow]) -> Result<Self, PlotError> {
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Err(PlotError::Draw("no time series".into()));
        };
        let width = rows
            .get(1)
            .map(|r| r.start - first.start)
            .filter(|w| w.is_finite() && *w > 0.0)
            .unwrap_or(1.0);
        let x0 = if first.start.is_finite() {
            first.start
        } else {
            0.0
        };
        let x1 = last.start + width;
        let x1 = if x1.is_finite() && x1 > x0 {
            x1
        } else {
            x0 + width
        };
        Ok(Self { x: x0..x1, width })
    }

    /// Where a figure over `row`'s interval is drawn.
    fn mid(&self, row: &IntervalRow) -> f64 {
        row.start + self.width / 2.0
    }

    /// Where a state at the end of `row`'s interval is drawn.
    fn end(&self, row: &IntervalRow) -> f64 {
        row.start + self.width
    }
}

/// Service `i` in `row`, if the row has it.
fn service(row: &IntervalRow, i: usize) -> Option<&IntervalService> {
    row.services.get(i)
}

/// 10% headroom over the largest of `values`, or 1 when there is nothing positive.
fn headroom(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

/// Draws a document of `height` pixels titled `title`, its body drawn by `body`.
fn render(
    height: u32,
    title: &str,
    body: impl FnOnce(&Area<'_>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let inner = root.titled(title, ("sans-serif", 20)).map_err(draw_error)?;
        body(&inner)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// Splits `area` into a plotting area and the legend strip on its right.
fn split<'b>(area: &Area<'b>) -> (Area<'b>, Area<'b>) {
    let width = area.dim_in_pixel().0;
    area.split_horizontally(width.saturating_sub(LEGEND_WIDTH))
}

/// Axes on `area`: time in seconds across, `0..y_max` up, labelled `y_desc`; the x axis is
/// described only when `x_desc`, integer y ticks when `integers`.
fn axes<'a, 'b>(
    area: &'a Area<'b>,
    caption: Option<&str>,
    time: &Time,
    y_max: f64,
    y_desc: &str,
    x_desc: bool,
    integers: bool,
) -> Result<Chart<'a, 'b>, PlotError> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .x_label_area_size(if x_desc { 40 } else { 24 })
        .y_label_area_size(64);
    if let Some(caption) = caption {
        builder.caption(caption, ("sans-serif", 15));
    }
    let mut chart = builder
        .build_cartesian_2d(time.x.clone(), 0.0..y_max)
        .map_err(draw_error)?;
    let integer = |v: &f64| format!("{v}");
    let mut mesh = chart.configure_mesh();
    mesh.label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .y_desc(y_desc);
    if x_desc {
        mesh.x_desc("time (s)");
    }
    if integers {
        mesh.y_labels((y_max as usize + 1).min(11))
            .y_label_formatter(&integer);
    }
    mesh.draw().map_err(draw_error)?;
    Ok(chart)
}

/// How a legend entry is marked.
enum Mark {
    Line(ShapeStyle),
    Dashed(ShapeStyle),
    Block(ShapeStyle),
}

/// Draws `entries` top-down in the legend strip `area`.
fn legend(area: &Area<'_>, entries: &[(String, Mark)]) -> Result<(), PlotError> {
    let style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, mark)) in entries.iter().enumerate() {
        let (x, y) = (8, 36 + 20 * i as i32);
        match mark {
            Mark::Line(s) => area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], *s)),
            Mark::Dashed(s) => area
                .draw(&PathElement::new(vec![(x, y), (x + 9, y)], *s))
                .and_then(|()| area.draw(&PathElement::new(vec![(x + 15, y), (x + 24, y)], *s))),
            Mark::Block(s) => area.draw(&Rectangle::new([(x, y - 6), (x + 24, y + 6)], *s)),
        }
        .map_err(draw_error)?;
        area.draw(&Text::new(label.as_str(), (x + 32, y), style.clone()))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// Draws `points` as a line in `style`, leaving gaps at `None`; a point between two gaps is
/// drawn as a dot.
fn line(
    chart: &mut Chart<'_, '_>,
    points: impl Iterator<Item = (f64, Option<f64>)>,
    style: ShapeStyle,
) -> Result<(), PlotError> {
    let points: Vec<(f64, Option<f64>)> = points.collect();
    let runs: Vec<Vec<(f64, f64)>> = points
        .split(|p| p.1.is_none())
        .map(|run| run.iter().filter_map(|&(x, y)| y.map(|y| (x, y))).collect())
        .collect();
    chart
        .draw_series(
            runs.iter()
                .filter(|run| run.len() > 1)
                .map(|run| PathElement::new(run.clone(), style)),
        )
        .map_err(draw_error)?;
    chart
        .draw_series(
            runs.iter()
                .filter(|run| run.len() == 1)
                .map(|run| Circle::new(run[0], 2, style.filled())),
        )
        .map_err(draw_error)?;
    Ok(())
}

/// Draws `points` as a dashed line in `style`.
fn dashed(
    chart: &mut Chart<'_, '_>,
    points: Vec<(f64, f64)>,
    style: ShapeStyle,
) -> Result<(), PlotError> {
    chart
        .draw_series(std::iter::once(DashedPathElement::new(points, 6, 4, style)))
        .map_err(draw_error)?;
    Ok(())
}

/// The panels of a chart with one panel per service, stacked top-down, and the chart's
/// height: at least [`SIZE`]'s.
fn panel_height(report: &RunReport) -> (usize, u32) {
    let panels = report.services.len().max(1);
    let height = u32::try_from(panels).map_or(u32::MAX, |n| {
        n.saturating_mul(PANEL_HEIGHT).saturating_add(40)
    });
    (panels, height.max(SIZE.1))
}

/// Requests per second over time: arrivals, completed, rejected and failed (a series that is
/// zero throughout is left out).
///
/// # Errors
/// [`PlotError::Draw`] without time series or when plotters fails.
pub fn arrivals_svg(report: &RunReport) -> Result<String, PlotError> {
    let rows = &report.timeseries;
    let time = Time::of(rows)?;
    let all: [(&str, RGBColor, Count); 4] = [
        ("arrivals", PALETTE[0], |r| r.arrivals),
        ("completed", PALETTE[2], |r| r.completed),
        ("rejected", PALETTE[1], |r| r.rejected),
        ("failed", ALERT, |r| r.failed),
    ];
    let rate = |n: u64| n as f64 / time.width;
    let series = all
        .into_iter()
        .filter(|(_, _, count)| rows.iter().any(|r| count(r) > 0))
        .map(|(name, color, count)| {
            let points = rows
                .iter()
                .map(|r| (time.mid(r), Some(rate(count(r)))))
                .collect();
            (name, color, points)
        })
        .collect();
    line_chart("Requests per second", "requests per second", &time, series)
}

/// One named line: `(label, colour, (time, value) points)`; `None` leaves a gap.
type Line<'n> = (&'n str, RGBColor, Vec<(f64, Option<f64>)>);

/// A single-panel chart of `series` over time, with a legend.
fn line_chart(
    title: &str,
    y_desc: &str,
    time: &Time,
    series: Vec<Line<'_>>,
) -> Result<String, PlotError> {
    let y_max = headroom(
        series
            .iter()
            .flat_map(|(_, _, points)| points.iter().filter_map(|p| p.1)),
    );
    render(SIZE.1, title, |area| {
        let (plot, key) = split(area);
        let mut chart = axes(&plot, None, time, y_max, y_desc, true, false)?;
        for (_, color, points) in &series {
            line(&mut chart, points.iter().copied(), color.stroke_width(2))?;
        }
        let entries: Vec<_> = series
            .iter()
            .map(|(name, color, _)| ((*name).to_owned(), Mark::Line(color.stroke_width(2))))
            .collect();
        legend(&key, &entries)
    })
}

/// Replicas over time per service: desired (dashed steps) and ready (solid), in the
/// service's colour, with a thin red vertical line at each fault.
///
/// # Errors
/// [`PlotError::Draw`] without time series or when plotters fails.
pub fn replicas_svg(report: &RunReport) -> Result<String, PlotError> {
    let rows = &report.timeseries;
    let time = Time::of(rows)?;
    let top = rows
        .iter()
        .flat_map(|r| r.services.iter().map(|s| s.desired.max(s.ready)))
        .max()
        .unwrap_or(0);
    let y_max = f64::from(top) + 1.0;
    let faults: Vec<f64> = report
        .faults
        .iter()
        .map(|f| f.at)
        .filter(|at| time.x.contains(at))
        .collect();
    render(SIZE.1, "Replicas", |area| {
        let (plot, key) = split(area);
        let mut chart = axes(&plot, None, &time, y_max, "replicas", true, true)?;
        let fault_style = ALERT.mix(0.6).stroke_width(1);
        chart
            .draw_series(
                faults
                    .iter()
                    .map(|&at| PathElement::new(vec![(at, 0.0), (at, y_max)], fault_style)),
            )
            .map_err(draw_error)?;
        let mut entries = Vec::new();
        for (i, s) in report.services.iter().enumerate() {
            let color = service_color(i);
            let desired: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| service(r, i).map(|v| (time.end(r), f64::from(v.desired))))
                .collect();
            let steps = desired
                .iter()
                .zip(desired.iter().skip(1).map(Some).chain([None]))
                .flat_map(|(&(x, y), next)| [Some((x, y)), next.map(|&(nx, _)| (nx, y))])
                .flatten()
                .collect();
            let desired_style = color.mix(0.75).stroke_width(2);
            dashed(&mut chart, steps, desired_style)?;
            let ready = rows
                .iter()
                .map(|r| (time.end(r), service(r, i).map(|v| f64::from(v.ready))));
            line(&mut chart, ready, color.stroke_width(2))?;
            entries.push((
                format!("{} ready", s.name),
                Mark::Line(color.stroke_width(2)),
            ));
            entries.push((format!("{} desired", s.name), Mark::Dashed(desired_style)));
        }
        if !faults.is_empty() {
            entries.push((format!("fault ({})", faults.len()), Mark::Line(fault_style)));
        }
        legend(&key, &entries)
    })
}

/// Mean time to process per service over time, a panel per service, with a dashed red line
/// at the desired time when an autoscaler of the service has one.
///
/// # Errors
/// [`PlotError::Draw`] without time series or when plotters fails.
pub fn ttp_svg(report: &RunReport) -> Result<String, PlotError> {
    let rows = &report.timeseries;
    let time = Time::of(rows)?;
    let (panels, height) = panel_height(report);
    render(height, "Time to process (mean per interval)", |area| {
        let areas = area.split_evenly((panels, 1));
        if report.services.is_empty() {
            let (plot, _) = split(&areas[0]);
            axes(
                &plot,
                Some("no services"),
                &time,
                1.0,
                "mean TTP (ms)",
                true,
                false,
            )?;
        }
        for ((i, s), panel) in report.services.iter().enumerate().zip(&areas) {
            let desired = report
                .autoscalers
                .iter()
                .filter(|a| a.target == s.name)
                .find_map(|a| a.desired_processing_time_ms);
            let ttp = || {
                rows.iter()
                    .map(|r| (time.mid(r), service(r, i).and_then(|v| v.ttp_mean)))
            };
            let y_max = headroom(ttp().filter_map(|p| p.1).chain(desired));
            let (plot, key) = split(panel);
            let last = i + 1 == report.services.len();
            let mut chart = axes(
                &plot,
                Some(&s.name),
                &time,
                y_max,
                "mean TTP (ms)",
                last,
                false,
            )?;
            let color = service_color(i);
            line(&mut chart, ttp(), color.stroke_width(2))?;
            let mut entries = vec![("mean TTP".to_owned(), Mark::Line(color.stroke_width(2)))];
            if let Some(d) = desired {
                let style = ALERT.stroke_width(2);
                dashed(&mut chart, vec![(time.x.start, d), (time.x.end, d)], style)?;
                entries.push((format!("desired TTP ({d} ms)"), Mark::Dashed(style)));
            }
            legend(&key, &entries)?;
        }
        Ok(())
    })
}

/// Time to resolution over time: the mean and the 99th percentile per interval.
///
/// # Errors
/// [`PlotError::Draw`] without time series or when plotters fails.
pub fn ttr_svg(report: &RunReport) -> Result<String, PlotError> {
    let rows = &report.timeseries;
    let time = Time::of(rows)?;
    let all: [(&str, RGBColor, Latency); 2] = [
        ("mean", PALETTE[0], |r| r.ttr_mean),
        ("p99", PALETTE[3], |r| r.ttr_p99),
    ];
    let series = all
        .into_iter()
        .map(|(name, color, get)| {
            (
                name,
                color,
                rows.iter().map(|r| (time.mid(r), get(r))).collect(),
            )
        })
        .collect();
    line_chart("Time to resolution", "TTR (ms)", &time, series)
}

/// Pods per location tier over time, a panel per service: stacked areas, tier 0 (local) at
/// the bottom. A tier without pods of the service throughout is left out of its panel.
///
/// # Errors
/// [`PlotError::Draw`] without time series or when plotters fails.
pub fn placement_svg(report: &RunReport) -> Result<String, PlotError> {
    let rows = &report.timeseries;
    let time = Time::of(rows)?;
    let tiers = rows
        .iter()
        .flat_map(|r| r.services.iter().map(|s| s.pods_by_tier.len()))
        .max()
        .unwrap_or(0);
    let (panels, height) = panel_height(report);
    render(height, "Pods per location tier", |area| {
        let areas = area.split_evenly((panels, 1));
        if report.services.is_empty() {
            let (plot, _) = split(&areas[0]);
            axes(&plot, Some("no services"), &time, 1.0, "pods", true, true)?;
        }
        for ((i, s), panel) in report.services.iter().enumerate().zip(&areas) {
            // cumulative[j][k]: pods of tiers below k at the end of interval j.
            let cumulative: Vec<(f64, Vec<u32>)> = rows
                .iter()
                .map(|r| {
                    let by_tier = service(r, i).map_or(&[][..], |v| &v.pods_by_tier[..]);
                    let sums = (0..=tiers)
                        .scan(0u32, |sum, k| {
                            let below = *sum;
                            *sum = sum.saturating_add(by_tier.get(k).copied().unwrap_or(0));
                            Some(below)
                        })
                        .collect();
                    (time.end(r), sums)
                })
                .collect();
            let top = cumulative.iter().map(|(_, c)| c[tiers]).max().unwrap_or(0);
            let (plot, key) = split(panel);
            let last = i + 1 == report.services.len();
            let mut chart = axes(
                &plot,
                Some(&s.name),
                &time,
                f64::from(top) + 1.0,
                "pods",
                last,
                true,
            )?;
            let mut entries = Vec::new();
            for k in (0..tiers).filter(|&k| cumulative.iter().any(|(_, c)| c[k + 1] > c[k])) {
                let upper = cumulative.iter().map(|(x, c)| (*x, f64::from(c[k + 1])));
                let lower = cumulative.iter().rev().map(|(x, c)| (*x, f64::from(c[k])));
                let style = tier_color(k).mix(AREA_OPACITY).filled();
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        upper.chain(lower).collect::<Vec<_>>(),
                        style,
                    )))
                    .map_err(draw_error)?;
                let label = if k == 0 {
                    "tier 0 (local)".to_owned()
                } else {
                    format!("tier {k}")
                };
                entries.push((label, Mark::Block(style)));
            }
            legend(&key, &entries)?;
        }
        Ok(())
    })
}

#[cfg(test)]
#[path = "run_plot_tests.rs"]
mod tests;
