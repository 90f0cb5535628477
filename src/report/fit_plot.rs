//! The picture of a fit: the samples' histogram and empirical CDF with the fitted models
//! drawn over them, as SVG.
//!
//! [`fit_plot_svg`] draws two panels sharing the x axis: on top the histogram of the samples
//! as a density (bars) with each fitted model's density (lines), below the empirical CDF
//! with each model's CDF. The x axis spans the samples' minimum to their 99.5th percentile,
//! so that a long tail does not squash the body. Text is emitted as SVG `<text>` elements
//! (no font files are read; the viewer renders them).

use std::path::Path;

use plotters::prelude::*;

use crate::fit::{Distribution, Fit};

/// At most this many fits (the best ones) are drawn.
pub const MAX_FITS: usize = 5;

/// Width and height of the picture, in pixels.
const SIZE: (u32, u32) = (960, 760);
/// Points per model curve, and the empirical CDF's resolution.
const POINTS: usize = 400;

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// There are no samples, or a sample is NaN or infinite.
    #[error("cannot plot: {0}")]
    BadSamples(&'static str),
    /// A fit's distribution could not be built.
    #[error("cannot plot the {family} fit")]
    Distribution {
        /// The fit's family.
        family: crate::fit::Family,
        /// The constructor's error.
        #[source]
        source: crate::fit::DistError,
    },
    /// The drawing library failed.
    #[error("drawing the plot failed: {0}")]
    Draw(String),
}

pub(crate) fn draw_error<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The histogram of `sorted` on `[x0, x1]` as `(left, right, density)` bins; samples beyond
/// `x1` are counted in the total but not drawn.
fn histogram(sorted: &[f64], x0: f64, x1: f64) -> Vec<(f64, f64, f64)> {
    let n = sorted.len() as f64;
    let bins = (n.sqrt().round() as usize).clamp(10, 60);
    let width = (x1 - x0) / bins as f64;
    (0..bins)
        .map(|i| {
            let (left, right) = (x0 + width * i as f64, x0 + width * (i + 1) as f64);
            let below = |x: f64| sorted.partition_point(|s| *s <= x);
            let count = if i == 0 {
                below(right)
            } else {
                below(right) - below(left)
            };
            (left, right, count as f64 / (n * width))
        })
        .collect()
}

/// Renders the plot of `samples` and (at most [`MAX_FITS`] of) `fits` as an SVG document.
///
/// # Errors
/// [`PlotError::BadSamples`] for no samples or a non-finite one,
/// [`PlotError::Distribution`] for a fit whose spec is invalid, [`PlotError::Draw`] when
/// plotters fails.
pub fn fit_plot_svg(samples: &[f64], fits: &[Fit], title: &str) -> Result<String, PlotError> {
    if samples.is_empty() {
        return Err(PlotError::BadSamples("there are no samples"));
    }
    if samples.iter().any(|x| !x.is_finite()) {
        return Err(PlotError::BadSamples("a sample is NaN or infinite"));
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let x0 = sorted[0];
    let mut x1 = sorted[((n as f64 * 0.995) as usize).min(n - 1)];
    if x1 <= x0 {
        x1 = x0 + x0.abs().max(1.0);
    }
    let curves: Vec<(String, Distribution)> = fits
        .iter()
        .take(MAX_FITS)
        .map(|f| {
            Distribution::from_spec(&f.spec, Path::new("."))
                .map(|d| (format!("{} (BIC {:.0})", f.family, f.bic), d))
                .map_err(|source| PlotError::Distribution {
                    family: f.family,
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let grid: Vec<f64> = (0..=POINTS)
        .map(|i| x0 + (x1 - x0) * i as f64 / POINTS as f64)
        .collect();
    let h = (x1 - x0) / POINTS as f64 / 2.0;
    let densities: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|(_, d)| {
            grid.iter()
                .map(|&x| (x, ((d.cdf(x + h) - d.cdf(x - h)) / (2.0 * h)).max(0.0)))
                .collect()
        })
        .collect();
    let bins = histogram(&sorted, x0, x1);
    let y_max = bins
        .iter()
        .map(|b| b.2)
        .chain(densities.iter().flatten().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.0, f64::max)
        * 1.1;
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(draw_error)?;
        let (upper, lower) = root.split_vertically(SIZE.1 / 2 - 20);
        let color = |i: usize| Palette99::pick(i).stroke_width(2);

        let mut top = ChartBuilder::on(&upper)
            .caption(
                "histogram (density) and fitted densities",
                ("sans-serif", 15),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..y_max)
            .map_err(draw_error)?;
        top.configure_mesh()
            .y_desc("density")
            .draw()
            .map_err(draw_error)?;
        top.draw_series(
            bins.iter()
                .map(|&(l, r, d)| Rectangle::new([(l, 0.0), (r, d)], BLUE.mix(0.25).filled())),
        )
        .map_err(draw_error)?
        .label(format!("samples (n = {n})"))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], BLUE.mix(0.25).filled()));
        for (i, ((name, _), points)) in curves.iter().zip(&densities).enumerate() {
            top.draw_series(LineSeries::new(points.iter().copied(), color(i)))
                .map_err(draw_error)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color(i)));
        }
        top.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_error)?;

        let mut bottom = ChartBuilder::on(&lower)
            .caption("empirical CDF and fitted CDFs", ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..1.0)
            .map_err(draw_error)?;
        bottom
            .configure_mesh()
            .x_desc("value (x axis up to the samples' 99.5th percentile)")
            .y_desc("P(X <= x)")
            .draw()
            .map_err(draw_error)?;
        let ecdf = grid
            .iter()
            .map(|&x| (x, sorted.partition_point(|s| *s <= x) as f64 / n as f64));
        bottom
            .draw_series(LineSeries::new(ecdf, BLUE.stroke_width(3)))
            .map_err(draw_error)?
            .label("empirical")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE.stroke_width(3)));
        for (i, (name, d)) in curves.iter().enumerate() {
            let cdf = grid.iter().map(|&x| (x, d.cdf(x)));
            bottom
                .draw_series(LineSeries::new(cdf, color(i)))
                .map_err(draw_error)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color(i)));
        }
        bottom
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{Family, fit_samples};

    #[test]
    fn the_svg_has_text_bars_and_one_curve_pair_per_fit() {
        // Deterministic, roughly log-normal samples: exp of evenly spaced normal quantiles.
        let d = Distribution::from_spec(
            &crate::model::dist::DistSpec::LogNormal {
                mu: 1.0,
                sigma: 0.5,
                shift: 0.0,
            },
            Path::new("."),
        )
        .unwrap();
        let samples: Vec<f64> = (1..=999)
            .map(|i| d.quantile(f64::from(i) / 1000.0))
            .collect();
        let report = fit_samples(&samples, &[Family::LogNormal, Family::Normal]).unwrap();
        let svg = fit_plot_svg(&samples, &report.fits, "latency of a").unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("<text") && svg.contains("latency of a"),
            "no text"
        );
        assert!(svg.contains("lognormal (BIC") && svg.contains("normal (BIC"));
        assert!(svg.contains("samples (n = 999)"));
        // 2 panels x (1 empirical/bars + 2 fits) polylines, plus legend marks.
        assert!(svg.matches("<polyline").count() >= 5, "{}", svg.len());
    }

    #[test]
    fn bad_samples_are_errors_not_panics() {
        assert!(matches!(
            fit_plot_svg(&[], &[], "t"),
            Err(PlotError::BadSamples(_))
        ));
        assert!(matches!(
            fit_plot_svg(&[1.0, f64::NAN], &[], "t"),
            Err(PlotError::BadSamples(_))
        ));
        let svg = fit_plot_svg(&[3.0; 5], &[], "constant").unwrap();
        assert!(svg.contains("<svg"));
    }
}
