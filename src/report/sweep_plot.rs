//! Pictures of a sweep: one figure of every configuration against the grid's first
//! dimension, as SVG (the shape of the KubeTwin paper's Fig. 6, p99 against replicas with the
//! SLO line).
//!
//! [`kpi_svg`] draws a figure ([`Kpi`]) with the first dimension's values across: a numeric
//! axis when every value is a number, else one evenly spaced position per value. The ticks
//! are the values themselves, unless there are too many of them to label, when a numeric
//! axis falls back to round numbers. Each combination of the other dimensions' values is a series (its own colour,
//! labelled `PATH=VALUE, ...`); each point is the mean over the replications with an error
//! bar of the 95% confidence interval's half-width, when there is one. When several series
//! share an x position their points are nudged apart a little, so that the error bars stay
//! readable. A configuration that meets the SLO is a filled circle, one that does not a
//! hollow one (without an SLO every circle is filled); when the SLO is about the figure drawn,
//! it is a dashed red line. [`write_sweep_plots`] writes the charts of [`charted_kpis`].
//!
//! Legends sit in a strip right of the plotting area, so they never cover data. Colours come
//! from a fixed palette and nothing depends on the clock or on hashing: the same report gives
//! byte-identical SVG. Text is emitted as SVG `<text>` elements (no font files are read; the
//! viewer renders them).

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::fit_plot::{PlotError, draw_error};
use crate::sweep::{Kpi, Slo, SweepReport};

/// The figures [`write_sweep_plots`] draws (besides the SLO's), in order.
pub const SWEEP_PLOT_KPIS: [Kpi; 3] = [Kpi::Mean, Kpi::P99, Kpi::Cost];

/// Width and height of every chart, in pixels.
const SIZE: (u32, u32) = (960, 540);
/// Bounds of the legend strip's width, which fits its longest label.
const LEGEND_WIDTH: Range<u32> = 150..380;
/// Pixels per character of a 13 px label (an estimate: no fonts are read).
const CHAR_WIDTH: u32 = 7;
/// Legend rows, one per entry.
const LEGEND_ROW: i32 = 20;
/// Radius of a configuration's marker.
const MARKER_RADIUS: u32 = 5;
/// Opacity of the error bars.
const ERROR_BAR_OPACITY: f64 = 0.7;
/// Share of the smallest gap between x positions that the series of one position spread
/// over.
const DODGE: f64 = 0.3;

use super::palette::{ALERT, PALETTE};
/// The legend's meets/misses markers (no series has this colour).
const KEY: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// The colour of series `i`.
fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The figures charted for `report`, in order: [`SWEEP_PLOT_KPIS`], then the SLO's figure if
/// it is another one; a figure without a value in any configuration is left out.
pub fn charted_kpis(report: &SweepReport) -> Vec<Kpi> {
    let mut kpis = SWEEP_PLOT_KPIS.to_vec();
    if let Some(slo) = report.slo.filter(|s| !kpis.contains(&s.kpi)) {
        kpis.push(slo.kpi);
    }
    kpis.retain(|&k| has_values(report, k));
    kpis
}

/// Whether any configuration has a (finite) mean of `kpi`.
pub fn has_values(report: &SweepReport, kpi: Kpi) -> bool {
    report
        .configurations
        .iter()
        .any(|c| c.kpis.get(kpi.name()).is_some_and(|e| e.mean.is_finite()))
}

/// The file [`write_sweep_plots`] writes the chart of `kpi` to: `<name>.svg`.
pub fn plot_file_name(kpi: Kpi) -> String {
    format!("{}.svg", kpi.name())
}

/// Writes the charts of [`charted_kpis`] into `dir` (created if missing) as
/// [`plot_file_name`], and returns the files written, in that order.
///
/// Every chart is drawn before anything is written, so a drawing error writes nothing.
///
/// # Errors
/// [`PlotError::Draw`] when plotters fails, or when `dir` cannot be created or a file cannot
/// be written.
pub fn write_sweep_plots(report: &SweepReport, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let charts = charted_kpis(report)
        .into_iter()
        .map(|k| Ok((plot_file_name(k), kpi_svg(report, k)?)))
        .collect::<Result<Vec<_>, PlotError>>()?;
    let io = |what: &str, path: &Path, e: std::io::Error| {
        PlotError::Draw(format!("{what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    charts
        .into_iter()
        .map(|(name, svg)| {
            let path = dir.join(name);
            std::fs::write(&path, svg).map_err(|e| io("cannot write", &path, e))?;
            Ok(path)
        })
        .collect()
}

/// How `kpi` is called in titles: `TTR p99`, `cost`, ...
pub fn kpi_title(kpi: Kpi) -> String {
    match kpi {
        Kpi::P999 => "TTR p99.9".into(),
        Kpi::Errors => "error ratio".into(),
        Kpi::CoreHours => "CPU core-hours".into(),
        Kpi::Cost => "cost".into(),
        k => format!("TTR {}", k.name()),
    }
}

/// The axis label of `kpi`, with its unit.
fn kpi_desc(kpi: Kpi) -> String {
    match kpi {
        Kpi::Errors => "error ratio (rejected + failed) / arrived".into(),
        Kpi::CoreHours => "CPU core-hours".into(),
        k => format!("{} ({})", kpi_title(k), k.unit()),
    }
}

/// The chart's title: `TTR p99 vs deployment:spec.replicas (10 replications, 95% CI)`.
fn title(report: &SweepReport, kpi: Kpi) -> String {
    let across = report
        .dimensions
        .first()
        .map_or("configuration", |d| d.path.as_str());
    let runs = match report.replications {
        1 => "1 replication".to_owned(),
        n => format!("{n} replications, 95% CI"),
    };
    format!("{} vs {across} ({runs})", kpi_title(kpi))
}

/// The x axis: the first dimension's values.
struct XAxis {
    /// The values, as tick labels.
    values: Vec<String>,
    /// The position of each value.
    positions: Vec<f64>,
    /// Whether every value is a number, its position; else value `i` is at `i`.
    numeric: bool,
    /// The span drawn.
    range: Range<f64>,
    /// The smallest gap between two positions (1 when there are fewer than two).
    step: f64,
}

impl XAxis {
    fn of(report: &SweepReport) -> Self {
        let values: Vec<String> = report
            .dimensions
            .first()
            .map_or_else(|| vec!["the scenario".to_owned()], |d| d.values.clone());
        let numbers: Option<Vec<f64>> = values
            .iter()
            .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
            .collect();
        match numbers.filter(|n| !n.is_empty()) {
            Some(positions) => {
                let mut sorted = positions.clone();
                sorted.sort_by(f64::total_cmp);
                let step = sorted
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .filter(|g| *g > 0.0)
                    .fold(f64::INFINITY, f64::min);
                let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
                let span = hi - lo;
                let (step, pad) = if step.is_finite() {
                    (step, (step / 2.0).min(span * 0.1))
                } else {
                    (1.0, (lo.abs() * 0.1).max(1.0))
                };
                XAxis {
                    values,
                    positions,
                    numeric: true,
                    range: lo - pad..hi + pad,
                    step,
                }
            }
            None => XAxis {
                positions: (0..values.len()).map(|i| i as f64).collect(),
                range: -0.5..values.len().max(1) as f64 - 0.5,
                values,
                numeric: false,
                step: 1.0,
            },
        }
    }
}

/// One configuration's point.
struct Point {
    x: f64,
    mean: f64,
    ci95: Option<f64>,
    /// Drawn filled: it meets the SLO, or there is none.
    filled: bool,
}

/// The configurations that share the values of every dimension but the first.
struct Series {
    label: String,
    /// In x order.
    points: Vec<Point>,
}

/// The series of `kpi`, in grid order of their first configuration; configurations without
/// the figure, or with a first setting not among the dimension's values, are left out.
fn series(report: &SweepReport, kpi: Kpi, axis: &XAxis) -> Vec<Series> {
    let mut keys: Vec<&[String]> = Vec::new();
    let mut all: Vec<Series> = Vec::new();
    for c in &report.configurations {
        let rest = c.settings.get(1..).unwrap_or(&[]);
        let i = keys.iter().position(|k| *k == rest).unwrap_or_else(|| {
            keys.push(rest);
            let label = if report.dimensions.len() > 1 {
                report
                    .dimensions
                    .iter()
                    .skip(1)
                    .zip(rest)
                    .map(|(d, v)| format!("{}={v}", d.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                kpi.name().to_owned()
            };
            all.push(Series {
                label,
                points: Vec::new(),
            });
            all.len() - 1
        });
        let at = match (report.dimensions.first(), c.settings.first()) {
            (Some(d), Some(v)) => d.values.iter().position(|x| x == v),
            (None, _) => Some(0),
            (Some(_), None) => None,
        };
        let estimate = c.kpis.get(kpi.name()).filter(|e| e.mean.is_finite());
        if let (Some(at), Some(e)) = (at, estimate) {
            all[i].points.push(Point {
                x: axis.positions[at],
                mean: e.mean,
                ci95: e.ci95.filter(|h| h.is_finite() && *h >= 0.0),
                filled: c.meets_slo != Some(false),
            });
        }
    }
    for s in &mut all {
        s.points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    all
}

/// A point more than this many times the median error bar top is clipped (drawn at the
/// top edge with its value), so that one saturated configuration does not flatten the rest.
const CLIP_RATIO: f64 = 10.0;

/// The y span: from 0 (or below, for negative values) to 10% over the largest error bar
/// top or the SLO, whichever is higher; `0..1` when there is nothing. Outliers beyond
/// [`CLIP_RATIO`] x the median top are left out of the span.
fn y_range(series: &[Series], slo: Option<f64>) -> Range<f64> {
    let points = || series.iter().flat_map(|s| &s.points);
    let lo = points()
        .map(|p| p.mean - p.ci95.unwrap_or(0.0))
        .chain(slo)
        .fold(0.0, f64::min);
    let mut tops: Vec<f64> = points().map(|p| p.mean + p.ci95.unwrap_or(0.0)).collect();
    tops.sort_by(f64::total_cmp);
    let median = tops.get(tops.len() / 2).copied().unwrap_or(0.0);
    let limit = if median > 0.0 {
        median * CLIP_RATIO
    } else {
        f64::INFINITY
    };
    let hi = tops
        .iter()
        .copied()
        .filter(|t| *t <= limit)
        .chain(slo)
        .fold(lo, f64::max);
    let span = hi - lo;
    if span > 0.0 {
        lo - if lo < 0.0 { span * 0.1 } else { 0.0 }..hi + span * 0.1
    } else {
        lo..lo + 1.0
    }
}

/// How a legend entry is marked.
enum Mark {
    Line(ShapeStyle),
    Dashed(ShapeStyle),
    Marker { filled: bool },
    Nothing,
}

/// The legend strip's width for `entries`.
fn legend_width(entries: &[(String, Mark)]) -> u32 {
    let chars = entries
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let chars = u32::try_from(chars).unwrap_or(u32::MAX);
    chars
        .saturating_mul(CHAR_WIDTH)
        .saturating_add(48)
        .clamp(LEGEND_WIDTH.start, LEGEND_WIDTH.end)
}

/// `label`, cut to `max` characters with an ellipsis: its end when `keep_end` (a legend's
/// `PATH=VALUE` differ at their ends), else its start.
fn shorten(label: &str, max: usize, keep_end: bool) -> String {
    let count = label.chars().count();
    if count <= max {
        return label.to_owned();
    }
    let keep = max.saturating_sub(1);
    if keep_end {
        let kept: String = label.chars().skip(count - keep).collect();
        format!("…{kept}")
    } else {
        let kept: String = label.chars().take(keep).collect();
        format!("{kept}…")
    }
}

/// Draws `entries` top-down in the legend strip `area`; those that do not fit are counted
/// in a last line.
fn legend(area: &Area<'_>, entries: &[(String, Mark)]) -> Result<(), PlotError> {
    let (width, height) = area.dim_in_pixel();
    let style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let rows = usize::try_from((i32::try_from(height).unwrap_or(i32::MAX) - 60) / LEGEND_ROW)
        .unwrap_or(0)
        .max(1);
    let shown = if entries.len() > rows {
        rows - 1
    } else {
        entries.len()
    };
    let max_chars = (width.saturating_sub(40) / CHAR_WIDTH).max(4) as usize;
    for (i, (label, mark)) in entries.iter().take(shown).enumerate() {
        let (x, y) = (8, 36 + LEGEND_ROW * i as i32);
        match mark {
            Mark::Line(s) => area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], *s)),
            Mark::Dashed(s) => area
                .draw(&PathElement::new(vec![(x, y), (x + 9, y)], *s))
                .and_then(|()| area.draw(&PathElement::new(vec![(x + 15, y), (x + 24, y)], *s))),
            Mark::Marker { filled } => marker(area, (x + 12, y), KEY, *filled),
            Mark::Nothing => Ok(()),
        }
        .map_err(draw_error)?;
        area.draw(&Text::new(
            shorten(label, max_chars, true),
            (x + 32, y),
            style.clone(),
        ))
        .map_err(draw_error)?;
    }
    if shown < entries.len() {
        let y = 36 + LEGEND_ROW * shown as i32;
        let more = format!("… and {} more", entries.len() - shown);
        area.draw(&Text::new(more, (40, y), style))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// Draws a configuration's marker at `at` (backend or chart coordinates, by `area`): a
/// filled circle, or a hollow one (white inside).
fn marker<DB: DrawingBackend, C: CoordTranslate>(
    area: &DrawingArea<DB, C>,
    at: C::From,
    color: RGBColor,
    filled: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    C::From: Clone,
{
    if filled {
        area.draw(&Circle::new(at, MARKER_RADIUS, color.filled()))
    } else {
        area.draw(&Circle::new(at.clone(), MARKER_RADIUS, WHITE.filled()))?;
        area.draw(&Circle::new(at, MARKER_RADIUS, color.stroke_width(2)))
    }
}

/// A tick label: `v` without trailing zeros (`2`, not `2.0`; `0.3`, not
/// `0.30000000000000004`).
fn tick(v: &f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Whether the values' own labels fit under their positions on `chart` without
/// overlapping (always for a categorical axis, whose labels are shortened to fit).
fn own_ticks_fit(chart: &Chart<'_, '_>, axis: &XAxis) -> bool {
    if !axis.numeric {
        return true;
    }
    let mut px: Vec<i32> = axis
        .positions
        .iter()
        .map(|&x| chart.backend_coord(&(x, 0.0)).0)
        .collect();
    px.sort_unstable();
    let widest = axis
        .values
        .iter()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0);
    let needed = i32::try_from(widest)
        .unwrap_or(i32::MAX)
        .saturating_mul(CHAR_WIDTH as i32)
        .saturating_add(8);
    px.windows(2).all(|w| w[1] - w[0] >= needed)
}

/// Draws a tick, a grid line and the label of each of the axis' values, under the plotting
/// area of `chart`, on `root` (whose coordinates are the backend's). Labels are shortened
/// to their share of the width.
fn own_ticks(
    root: &Area<'_>,
    chart: &mut Chart<'_, '_>,
    axis: &XAxis,
    y: &Range<f64>,
) -> Result<(), PlotError> {
    let grid = BLACK.mix(0.2).stroke_width(1);
    chart
        .draw_series(
            axis.positions
                .iter()
                .map(|&x| PathElement::new(vec![(x, y.start), (x, y.end)], grid)),
        )
        .map_err(draw_error)?;
    let style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    let plot_width = chart.plotting_area().dim_in_pixel().0;
    let slot = plot_width / u32::try_from(axis.values.len().max(1)).unwrap_or(u32::MAX);
    let max_chars = (slot.saturating_sub(6) / CHAR_WIDTH).max(3) as usize;
    for (label, &x) in axis.values.iter().zip(&axis.positions) {
        let (px, py) = chart.backend_coord(&(x, y.start));
        root.draw(&PathElement::new(
            vec![(px, py), (px, py + 5)],
            BLACK.stroke_width(1),
        ))
        .map_err(draw_error)?;
        root.draw(&Text::new(
            shorten(label, max_chars, false),
            (px, py + 8),
            style.clone(),
        ))
        .map_err(draw_error)?;
    }
    Ok(())
}

/// Renders the chart of `kpi` over the sweep's configurations as an SVG document (see the
/// module's documentation). A figure that no configuration has draws empty axes, its legend
/// saying "no values".
///
/// # Errors
/// [`PlotError::Draw`] when plotters fails.
pub fn kpi_svg(report: &SweepReport, kpi: Kpi) -> Result<String, PlotError> {
    let axis = XAxis::of(report);
    let mut all = series(report, kpi, &axis);
    all.retain(|s| !s.points.is_empty());
    let slo: Option<Slo> = report.slo.filter(|s| s.kpi == kpi);
    let y = y_range(&all, slo.map(|s| s.value));

    let mut entries: Vec<(String, Mark)> = all
        .iter()
        .enumerate()
        .map(|(i, s)| (s.label.clone(), Mark::Line(series_color(i).stroke_width(2))))
        .collect();
    if all.is_empty() {
        entries.push(("no values".into(), Mark::Nothing));
    }
    if let Some(s) = slo {
        entries.push((format!("SLO {s}"), Mark::Dashed(ALERT.stroke_width(2))));
    }
    if let Some(s) = report.slo {
        entries.push((format!("meets {s}"), Mark::Marker { filled: true }));
        entries.push(("misses it".into(), Mark::Marker { filled: false }));
    }
    let key_width = legend_width(&entries);

    let title = title(report, kpi);
    let title_chars = u32::try_from(title.chars().count()).unwrap_or(u32::MAX);
    // About 10 px per character at 20 px: smaller for long titles, to fit the width.
    let title_size = (SIZE.0 * 2 / title_chars.max(1)).clamp(11, 20);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let inner = root
            .titled(&title, ("sans-serif", title_size))
            .map_err(draw_error)?;
        let width = inner.dim_in_pixel().0;
        let (plot, key) = inner.split_horizontally(width.saturating_sub(key_width));
        let mut chart = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(axis.range.clone(), y.clone())
            .map_err(draw_error)?;
        let x_desc = report
            .dimensions
            .first()
            .map_or("configuration", |d| d.path.as_str());
        // The values themselves as ticks when their labels fit, else plotters' round numbers.
        let own = own_ticks_fit(&chart, &axis);
        let mut mesh = chart.configure_mesh();
        mesh.label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .x_desc(x_desc)
            .y_desc(kpi_desc(kpi))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick);
        if own {
            mesh.x_labels(0);
        } else {
            mesh.x_labels(12);
        }
        mesh.draw().map_err(draw_error)?;
        if own {
            own_ticks(&root, &mut chart, &axis, &y)?;
        }

        if let Some(s) = slo {
            let line = vec![(axis.range.start, s.value), (axis.range.end, s.value)];
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    line,
                    6,
                    4,
                    ALERT.stroke_width(2),
                )))
                .map_err(draw_error)?;
        }

        let n = all.len();
        let nudge = axis.step * DODGE / n.max(1) as f64;
        let cap = (axis.range.end - axis.range.start) * 0.008;
        let cap = if n > 1 { cap.min(nudge * 0.4) } else { cap };
        for (i, s) in all.iter().enumerate() {
            let color = series_color(i);
            let dx = (i as f64 - (n as f64 - 1.0) / 2.0) * nudge;
            // Clipped values are drawn at the top edge, labelled with their value.
            let top = y.end;
            let clip = |v: f64| v.min(top);
            let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.x + dx, clip(p.mean))).collect();
            if line.len() > 1 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        line,
                        color.stroke_width(2),
                    )))
                    .map_err(draw_error)?;
            }
            let bar = color.mix(ERROR_BAR_OPACITY).stroke_width(1);
            chart
                .draw_series(s.points.iter().filter_map(|p| {
                    let h = p.ci95?;
                    let (x, lo, hi) = (p.x + dx, clip(p.mean - h), clip(p.mean + h));
                    Some(PathElement::new(
                        vec![
                            (x - cap, lo),
                            (x + cap, lo),
                            (x, lo),
                            (x, hi),
                            (x - cap, hi),
                            (x + cap, hi),
                        ],
                        bar,
                    ))
                }))
                .map_err(draw_error)?;
            let area = chart.plotting_area();
            for p in &s.points {
                marker(area, (p.x + dx, clip(p.mean)), color, p.filled).map_err(draw_error)?;
                if p.mean > top {
                    let at = area.map_coordinate(&(p.x + dx, top));
                    root.draw(&Text::new(
                        if p.mean.abs() >= 100.0 {
                            format!("↑ {:.0}", p.mean)
                        } else {
                            format!("↑ {:.2}", p.mean)
                        },
                        (at.0 + 8, at.1 + 4),
                        ("sans-serif", 12).into_font().color(&color),
                    ))
                    .map_err(draw_error)?;
                }
            }
        }
        legend(&key, &entries)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
