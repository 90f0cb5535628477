//! Tests of [`super`] (the sweep charts) and of [`crate::report::sweep_html`].

use std::collections::BTreeMap;

use super::*;
use crate::report::palette::svg::{elements, hex};
use crate::report::sweep_html::html_report;
use crate::sweep::kpi::{Op, SloRule};
use crate::sweep::{ConfigResult, Dimension, Estimate, SWEEP_REPORT_SCHEMA};

const REPLICAS: &str = "deployment:spec.replicas";
const P99: [f64; 6] = [200.0, 120.0, 75.0, 58.0, 52.0, 50.0];
const CI: [f64; 6] = [20.0, 12.0, 8.0, 3.0, 2.5, 2.0];
const SLO_P99: Slo = Slo {
    kpi: Kpi::P99,
    op: Op::Le,
    value: 60.0,
    rule: SloRule::Mean,
};

fn estimate(mean: f64, ci95: Option<f64>) -> Estimate {
    Estimate { n: 10, mean, ci95 }
}

/// A configuration whose p99 is `p99 ± ci`; the other figures follow from it and from
/// `pods` (cost grows with the pods).
fn config(index: usize, settings: &[&str], p99: f64, ci: Option<f64>, pods: f64) -> ConfigResult {
    let kpis: BTreeMap<String, Estimate> = [
        (Kpi::Mean, p99 * 0.4),
        (Kpi::P95, p99 * 0.8),
        (Kpi::P99, p99),
        (Kpi::P999, p99 * 1.6),
        (Kpi::Errors, 0.001),
        (Kpi::Cost, 0.25 * pods),
    ]
    .into_iter()
    .map(|(k, v)| (k.name().to_owned(), estimate(v, ci.map(|h| h * v / p99))))
    .collect();
    ConfigResult {
        index,
        settings: settings.iter().map(|s| (*s).to_owned()).collect(),
        kpis,
        meets_slo: None,
        meets_slo_mean: None,
        runs: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Sets `slo` and recomputes which configurations meet it, as the sweep does.
fn with_slo(mut report: SweepReport, slo: Option<Slo>) -> SweepReport {
    report.slo = slo;
    for c in &mut report.configurations {
        c.meets_slo = slo.map(|s| s.met_by(c.mean(s.kpi)));
    }
    report.first_meeting_slo = report
        .configurations
        .iter()
        .find(|c| c.meets_slo == Some(true))
        .map(|c| c.index);
    report
}

fn sweep(dimensions: Vec<Dimension>, configurations: Vec<ConfigResult>) -> SweepReport {
    let report = SweepReport {
        schema: SWEEP_REPORT_SCHEMA.into(),
        scenario: "scenarios/<&>\"q'.yaml".into(),
        dimensions,
        replications: 10,
        seed: 1,
        slo: None,
        shard: None,
        first_meeting_slo: None,
        configurations,
    };
    with_slo(report, Some(SLO_P99))
}

fn dimension(path: &str, values: &[&str]) -> Dimension {
    Dimension {
        path: path.into(),
        values: values.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Replicas 1..=6, p99 falling from 200 to 50 ms: 58 ms at 4 replicas first meets
/// p99<=60ms.
fn one_dim() -> SweepReport {
    let values = ["1", "2", "3", "4", "5", "6"];
    let configurations = (0..6)
        .map(|i| config(i, &[values[i]], P99[i], Some(CI[i]), (i + 1) as f64))
        .collect();
    let report = sweep(vec![dimension(REPLICAS, &values)], configurations);
    assert_eq!(report.first_meeting_slo, Some(3));
    report
}

/// Replicas 1..=4 of one deployment times 2 or 4 of `ms2`: two series. Configuration 5
/// (3 and 4 replicas) has no confidence interval.
fn two_dim() -> SweepReport {
    let replicas = ["1", "2", "3", "4"];
    let ms2 = ["2", "4"];
    let configurations = (0..8)
        .map(|i| {
            let (r, m) = (i / 2, i % 2);
            let p99 = 200.0 / (r + 1) as f64 + if m == 0 { 20.0 } else { 0.0 };
            let ci = (i != 5).then_some(4.0);
            config(
                i,
                &[replicas[r], ms2[m]],
                p99,
                ci,
                (r + 1 + 2 * (m + 1)) as f64,
            )
        })
        .collect();
    sweep(
        vec![
            dimension(REPLICAS, &replicas),
            dimension("ms2:spec.replicas", &ms2),
        ],
        configurations,
    )
}

/// One dimension with values `values`, p99 falling from 100 by 10 per value.
fn over(path: &str, values: &[&str]) -> SweepReport {
    let configurations = values
        .iter()
        .enumerate()
        .map(|(i, v)| config(i, &[v], 100.0 - 10.0 * i as f64, Some(1.0), 1.0))
        .collect();
    sweep(vec![dimension(path, values)], configurations)
}

/// The value of attribute `name` of `element`.
fn attr<'s>(element: &'s str, name: &str) -> &'s str {
    let start = element
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {element}"))
        + name.len()
        + 3;
    let len = element[start..].find('"').unwrap();
    &element[start..start + len]
}

fn num(element: &str, name: &str) -> f64 {
    attr(element, name).parse().unwrap()
}

/// The polylines stroked in `color` at `opacity`.
fn polylines<'s>(svg: &'s str, color: RGBColor, opacity: &str) -> Vec<&'s str> {
    elements(svg, "polyline")
        .into_iter()
        .filter(|e| attr(e, "stroke") == hex(color) && attr(e, "opacity") == opacity)
        .collect()
}

/// The circles filled (`true`) or stroked (`false`) in `color`.
fn circles(svg: &str, color: RGBColor, filled: bool) -> Vec<&str> {
    let (paint, other) = if filled {
        ("fill", "stroke")
    } else {
        ("stroke", "fill")
    };
    elements(svg, "circle")
        .into_iter()
        .filter(|e| attr(e, paint) == hex(color) && attr(e, other) == "none")
        .collect()
}

/// The `<text>` elements that say exactly `text` (escaped as in SVG).
fn text_elements<'s>(svg: &'s str, text: &str) -> Vec<&'s str> {
    elements(svg, "text")
        .into_iter()
        .filter(|e| e.split_once('>').is_some_and(|(_, t)| t.trim() == text))
        .collect()
}

fn texts(svg: &str, text: &str) -> usize {
    text_elements(svg, text).len()
}

/// The y coordinates of a polyline's points.
fn points(polyline: &str) -> Vec<(f64, f64)> {
    attr(polyline, "points")
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

fn is_svg(svg: &str) -> bool {
    svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>")
}

#[test]
fn the_p99_chart_has_title_error_bars_markers_and_the_slo_line() {
    let svg = kpi_svg(&one_dim(), Kpi::P99).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(
        texts(
            &svg,
            "TTR p99 vs deployment:spec.replicas (10 replications, 95% CI)"
        ),
        1
    );
    assert_eq!(texts(&svg, "TTR p99 (ms)"), 1);
    assert_eq!(texts(&svg, REPLICAS), 1);
    // One series, named after the figure.
    assert_eq!(texts(&svg, "p99"), 1);
    let color = series_color(0);
    // The line through the means, and its legend mark.
    assert_eq!(polylines(&svg, color, "1").len(), 2);
    // An error bar per point.
    let bars = polylines(&svg, color, "0.7");
    assert_eq!(bars.len(), 6);
    // 4, 5 and 6 replicas meet the SLO: filled; 1, 2 and 3 do not: hollow.
    let filled = circles(&svg, color, true);
    let hollow = circles(&svg, color, false);
    assert_eq!((filled.len(), hollow.len()), (3, 3));
    let cx = |c: &Vec<&str>| c.iter().map(|e| num(e, "cx")).collect::<Vec<_>>();
    assert!(
        cx(&hollow)
            .iter()
            .all(|h| cx(&filled).iter().all(|f| h < f))
    );
    // The legend's meets/misses markers.
    assert_eq!(texts(&svg, "meets p99&lt;=60ms"), 1);
    assert_eq!(texts(&svg, "misses it"), 1);
    assert_eq!(circles(&svg, KEY, true).len(), 1);
    assert_eq!(circles(&svg, KEY, false).len(), 1);

    // The SLO: a dashed horizontal line (many dashes), plus the legend's two, at 60 ms:
    // below every missing point and above every meeting one (SVG y grows downwards).
    assert_eq!(texts(&svg, "SLO p99&lt;=60ms"), 1);
    let dashes = polylines(&svg, ALERT, "1");
    assert!(dashes.len() > 10, "{}", dashes.len());
    let ys: Vec<f64> = dashes
        .iter()
        .take(dashes.len() - 2)
        .flat_map(|d| points(d))
        .map(|p| p.1)
        .collect();
    assert!(ys.iter().all(|y| *y == ys[0]), "{ys:?}");
    assert!(hollow.iter().all(|c| num(c, "cy") < ys[0]));
    assert!(filled.iter().all(|c| num(c, "cy") > ys[0]));
}

#[test]
fn error_bars_are_centred_on_the_means_and_as_long_as_the_interval() {
    let svg = kpi_svg(&one_dim(), Kpi::P99).unwrap();
    let color = series_color(0);
    let mut bars: Vec<Vec<(f64, f64)>> = polylines(&svg, color, "0.7")
        .iter()
        .map(|b| points(b))
        .collect();
    bars.sort_by(|a, b| a[2].0.total_cmp(&b[2].0));
    let mut markers: Vec<(f64, f64)> = elements(&svg, "circle")
        .iter()
        .filter(|c| attr(c, "fill") == hex(color) || attr(c, "stroke") == hex(color))
        .map(|c| (num(c, "cx"), num(c, "cy")))
        .collect();
    markers.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(bars.len(), markers.len());
    // Pixels per ms, from the first bar: 2 x 20 ms long.
    let scale = (bars[0][0].1 - bars[0][3].1) / (2.0 * CI[0]);
    assert!(scale > 0.0);
    for ((bar, marker), ci) in bars.iter().zip(&markers).zip(CI) {
        // Low cap, stem, high cap: the stem at the marker's x.
        assert_eq!(bar.len(), 6);
        assert!((bar[2].0 - marker.0).abs() <= 1.0, "{bar:?} {marker:?}");
        let (low, high) = (bar[2].1, bar[3].1);
        assert!(
            ((low + high) / 2.0 - marker.1).abs() <= 1.0,
            "{bar:?} {marker:?}"
        );
        assert!(
            ((low - high) - 2.0 * ci * scale).abs() <= 1.5,
            "{bar:?} {ci}"
        );
    }
}

#[test]
fn the_slo_line_is_drawn_on_its_figures_chart_only() {
    let report = one_dim();
    for kpi in [Kpi::Mean, Kpi::Cost] {
        let svg = kpi_svg(&report, kpi).unwrap();
        assert!(polylines(&svg, ALERT, "1").is_empty(), "{kpi:?}");
        assert_eq!(texts(&svg, "SLO p99&lt;=60ms"), 0, "{kpi:?}");
        // The configurations meeting the SLO are marked on every chart.
        let color = series_color(0);
        assert_eq!(circles(&svg, color, true).len(), 3, "{kpi:?}");
        assert_eq!(circles(&svg, color, false).len(), 3, "{kpi:?}");
    }
    let svg = kpi_svg(&report, Kpi::Cost).unwrap();
    assert_eq!(
        texts(
            &svg,
            "cost vs deployment:spec.replicas (10 replications, 95% CI)"
        ),
        1
    );

    // Without an SLO: no line, no meets/misses legend, every marker filled.
    let plain = with_slo(one_dim(), None);
    let svg = kpi_svg(&plain, Kpi::P99).unwrap();
    assert!(polylines(&svg, ALERT, "1").is_empty());
    assert!(!svg.contains("SLO") && !svg.contains("misses"));
    assert_eq!(circles(&svg, series_color(0), true).len(), 6);
    assert!(circles(&svg, series_color(0), false).is_empty());
}

#[test]
fn two_dimensions_draw_a_series_per_combination_of_the_others() {
    let svg = kpi_svg(&two_dim(), Kpi::P99).unwrap();
    assert_eq!(texts(&svg, "ms2:spec.replicas=2"), 1);
    assert_eq!(texts(&svg, "ms2:spec.replicas=4"), 1);
    assert_eq!(texts(&svg, "p99"), 0);
    let (a, b) = (series_color(0), series_color(1));
    for color in [a, b] {
        // The line and its legend mark.
        assert_eq!(polylines(&svg, color, "1").len(), 2);
        let markers = circles(&svg, color, true).len() + circles(&svg, color, false).len();
        assert_eq!(markers, 4);
    }
    assert!(polylines(&svg, series_color(2), "1").is_empty());
    // Configuration 5 (the second series' third point) has no interval: no bar.
    assert_eq!(polylines(&svg, a, "0.7").len(), 4);
    assert_eq!(polylines(&svg, b, "0.7").len(), 3);
    // Points at the same setting are nudged apart, by the same amount each.
    let xs = |c: RGBColor| {
        let mut x: Vec<f64> = elements(&svg, "circle")
            .iter()
            .filter(|e| attr(e, "fill") == hex(c) || attr(e, "stroke") == hex(c))
            .map(|e| num(e, "cx"))
            .collect();
        x.sort_by(f64::total_cmp);
        x.dedup();
        x
    };
    let gaps: Vec<f64> = xs(b).iter().zip(xs(a)).map(|(b, a)| b - a).collect();
    assert_eq!(gaps.len(), 4);
    assert!(
        gaps.iter().all(|g| *g > 2.0 && (g - gaps[0]).abs() <= 1.0),
        "{gaps:?}"
    );
    // p99 <= 60 ms: 200/r + 20 at r = 4 is 70 (no); 200/r at r = 4 is 50 (yes).
    assert_eq!(circles(&svg, a, true).len(), 0);
    assert_eq!(circles(&svg, b, true).len(), 1);
}

#[test]
fn non_numeric_values_make_a_categorical_axis() {
    let values = ["random", "round-robin", "least-request"];
    let svg = kpi_svg(
        &over("service/ms1:metadata.annotations.lb", &values),
        Kpi::P99,
    )
    .unwrap();
    let xs: Vec<f64> = values
        .iter()
        .map(|v| {
            let t = text_elements(&svg, v);
            assert_eq!(t.len(), 1, "{v}");
            num(t[0], "x")
        })
        .collect();
    let mut markers: Vec<f64> = elements(&svg, "circle")
        .iter()
        .filter(|e| {
            attr(e, "fill") == hex(series_color(0)) || attr(e, "stroke") == hex(series_color(0))
        })
        .map(|e| num(e, "cx"))
        .collect();
    markers.sort_by(f64::total_cmp);
    markers.dedup();
    // Evenly spaced, in the dimension's order, one marker under each label.
    assert!(
        xs[0] < xs[1] && (xs[2] - xs[1] - (xs[1] - xs[0])).abs() <= 1.0,
        "{xs:?}"
    );
    assert_eq!(markers.len(), 3);
    for (m, x) in markers.iter().zip(&xs) {
        assert!((m - x).abs() <= 1.0, "{markers:?} {xs:?}");
    }
}

#[test]
fn numeric_values_are_placed_by_value() {
    let svg = kpi_svg(&over(REPLICAS, &["1", "2", "4", "8"]), Kpi::P99).unwrap();
    let mut xs: Vec<f64> = elements(&svg, "circle")
        .iter()
        .filter(|e| {
            attr(e, "fill") == hex(series_color(0)) || attr(e, "stroke") == hex(series_color(0))
        })
        .map(|e| num(e, "cx"))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    assert_eq!(xs.len(), 4);
    let unit = xs[1] - xs[0];
    assert!((xs[2] - xs[1] - 2.0 * unit).abs() <= 1.5, "{xs:?}");
    assert!((xs[3] - xs[2] - 4.0 * unit).abs() <= 1.5, "{xs:?}");
    // The ticks are the values, under their markers.
    for (v, x) in ["1", "2", "4", "8"].iter().zip(&xs) {
        let t = text_elements(&svg, v);
        assert!(t.iter().any(|t| (num(t, "x") - x).abs() <= 1.0), "{v} {x}");
    }

    // Too many values to label each: round numbers instead.
    let values: Vec<String> = (1..=100).map(|v| v.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let svg = kpi_svg(&over(REPLICAS, &values), Kpi::P99).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(texts(&svg, "37"), 0);
    assert_eq!(texts(&svg, "40"), 1);
}

#[test]
fn output_is_byte_identical_across_calls() {
    for report in [one_dim(), two_dim()] {
        for kpi in Kpi::ALL {
            assert_eq!(
                kpi_svg(&report, kpi).unwrap(),
                kpi_svg(&report.clone(), kpi).unwrap()
            );
        }
        assert_eq!(
            html_report(&report).unwrap(),
            html_report(&report.clone()).unwrap()
        );
    }
}

#[test]
fn degenerate_reports_draw_without_panicking() {
    // A figure no configuration has.
    let mut report = one_dim();
    for c in &mut report.configurations {
        c.kpis.remove("cost");
    }
    assert!(!has_values(&report, Kpi::Cost));
    let svg = kpi_svg(&report, Kpi::Cost).unwrap();
    assert!(is_svg(&svg) && texts(&svg, "no values") == 1);
    assert_eq!(charted_kpis(&report), [Kpi::Mean, Kpi::P99]);

    // One replication: no intervals, no bars.
    let mut single = one_dim();
    single.replications = 1;
    for c in &mut single.configurations {
        for e in c.kpis.values_mut() {
            e.ci95 = None;
        }
    }
    let svg = kpi_svg(&single, Kpi::P99).unwrap();
    assert_eq!(
        texts(&svg, "TTR p99 vs deployment:spec.replicas (1 replication)"),
        1
    );
    assert!(polylines(&svg, series_color(0), "0.7").is_empty());

    // No configurations (an empty shard), no dimensions, one value, long labels.
    let mut empty = one_dim();
    empty.configurations.clear();
    assert!(is_svg(&kpi_svg(&empty, Kpi::P99).unwrap()));
    assert!(charted_kpis(&empty).is_empty());
    assert!(
        html_report(&empty)
            .unwrap()
            .contains("No figure has a value")
    );
    let mut bare = one_dim();
    bare.dimensions.clear();
    bare.configurations.truncate(1);
    bare.configurations[0].settings.clear();
    assert!(is_svg(&kpi_svg(&bare, Kpi::P99).unwrap()));
    assert!(is_svg(&kpi_svg(&over(REPLICAS, &["3"]), Kpi::P99).unwrap()));
    let long = "x".repeat(300);
    let svg = kpi_svg(&over(&long, &[&long, "b"]), Kpi::P99).unwrap();
    assert!(is_svg(&svg));
}

#[test]
fn write_sweep_plots_writes_the_charted_figures() {
    let dir = tempfile::tempdir().unwrap();
    let report = one_dim();
    let out = dir.path().join("plots").join("sweep");
    let files = write_sweep_plots(&report, &out).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["mean.svg", "p99.svg", "cost.svg"]);
    assert_eq!(
        std::fs::read_to_string(&files[1]).unwrap(),
        kpi_svg(&report, Kpi::P99).unwrap()
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);

    // An SLO on another figure adds its chart; a figure without values is skipped.
    let mut other = with_slo(
        one_dim(),
        Some(Slo {
            kpi: Kpi::P95,
            op: Op::Lt,
            value: 50.0,
            rule: SloRule::Mean,
        }),
    );
    for c in &mut other.configurations {
        c.kpis.remove("cost");
    }
    let out = dir.path().join("other");
    let files = write_sweep_plots(&other, &out).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["mean.svg", "p99.svg", "p95.svg"]);
    let p95 = std::fs::read_to_string(&files[2]).unwrap();
    assert_eq!(texts(&p95, "SLO p95&lt;50ms"), 1);
    assert!(polylines(&p95, ALERT, "1").len() > 10);
}

/// The rows of the HTML table's body.
fn rows(html: &str) -> Vec<&str> {
    let body = html.split("<tbody>").nth(1).unwrap();
    let body = &body[..body.find("</tbody>").unwrap()];
    body.split("<tr").skip(1).collect()
}

#[test]
fn the_html_report_has_the_facts_the_charts_and_a_row_per_configuration() {
    let report = one_dim();
    let html = html_report(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Charts: mean, p99 and cost (the SLO's figure is p99), inline.
    assert_eq!(html.matches("<svg").count(), 3);
    assert_eq!(html.matches("</svg>").count(), 3);
    assert!(html.contains(&kpi_svg(&report, Kpi::P99).unwrap().trim_end().to_string()));
    // Facts.
    for fact in [
        "<dt>Replications</dt><dd>10</dd>",
        "<dt>Seed</dt><dd>1 ",
        "<code>p99&lt;=60ms</code>",
        "<code>deployment:spec.replicas</code> = 1, 2, 3, 4, 5, 6 (6 values)",
        "6 configurations",
        "<a href=\"#config-3\" class=\"answer-text\">configuration #3</a> <code>deployment:spec.replicas=4</code>: p99 58.0 <span class=\"ci\">± 3.0</span>",
    ] {
        assert!(html.contains(fact), "{fact}");
    }
    assert!(!html.contains("none meets the SLO"));
    // The table: a column per dimension and figure, a row per configuration, the answer's
    // highlighted.
    for head in [
        "<th>#</th><th><code>deployment:spec.replicas</code></th><th>mean (ms)</th><th>p99 (ms)</th>",
        "<th>p999 (ms)</th><th>errors (ratio)</th><th>cost (price units)</th><th>meets SLO</th>",
    ] {
        assert!(html.contains(head), "{head}");
    }
    let rows = rows(&html);
    assert_eq!(rows.len(), 6);
    let answers: Vec<_> = rows
        .iter()
        .filter(|r| r.contains("class=\"answer\""))
        .collect();
    assert_eq!(answers.len(), 1);
    assert!(
        answers[0].starts_with(
            " id=\"config-3\" class=\"answer\"><td>3</td><td class=\"setting\">4</td>"
        )
    );
    assert!(answers[0].contains("<td>58.0 <span class=\"ci\">± 3.0</span></td>"));
    assert_eq!(html.matches("class=\"answer\"").count(), 1);
    let ticks: Vec<bool> = rows.iter().map(|r| r.contains("✓")).collect();
    assert_eq!(ticks, [false, false, false, true, true, true]);
    assert_eq!(rows.iter().filter(|r| r.contains("✗")).count(), 3);
    // Mean 200 x 0.4 = 80 ± 8, errors 0.001 ± 0.0001, cost 0.25 ± 0.025; a column's
    // numbers have the same decimals (four significant digits of its largest).
    assert!(rows[0].contains("<td>80.00 <span class=\"ci\">± 8.00</span></td>"));
    assert!(rows[0].contains("<td>0.001000 <span class=\"ci\">± 0.000100</span></td>"));
    assert!(rows[0].contains("<td>0.250 <span class=\"ci\">± 0.025</span></td>"));
    assert!(rows[5].contains("<td>1.500 <span class=\"ci\">± 0.060</span></td>"));
    assert!(rows[5].contains("<td>50.0 <span class=\"ci\">± 2.0</span></td>"));
}

#[test]
fn the_html_report_escapes_the_reports_text() {
    let mut report = over("service/ms1:metadata.annotations.lb", &["a<b>&c", "\"q'"]);
    report.scenario = "scenarios/<&>\"q'.yaml".into();
    let html = html_report(&report).unwrap();
    assert!(html.contains("scenarios/&lt;&amp;&gt;&quot;q&#39;.yaml"));
    assert!(
        html.contains("<title>kubetwin sweep: scenarios/&lt;&amp;&gt;&quot;q&#39;.yaml</title>")
    );
    assert!(!html.contains("<&>") && !html.contains("<b>") && !html.contains("\"q'"));
    assert!(html.contains("<td class=\"setting\">a&lt;b&gt;&amp;c</td>"));
    // In the chart too (plotters' own escaping).
    assert!(html.contains("a&lt;b&gt;&amp;c\n</text>"));
}

#[test]
fn the_html_report_is_self_contained() {
    for report in [one_dim(), two_dim()] {
        let html = html_report(&report).unwrap();
        let svgs = html.matches("<svg").count();
        assert!(svgs >= 3);
        let xmlns = "xmlns=\"http://www.w3.org/2000/svg\"";
        assert_eq!(html.matches(xmlns).count(), svgs);
        assert_eq!(html.matches("http://").count(), svgs);
        assert!(!html.contains("https://"));
        for external in [
            "<script",
            "<link",
            "<img",
            " src=",
            "url(",
            "@import",
            "@font-face",
        ] {
            assert!(!html.contains(external), "{external}");
        }
    }
}

#[test]
fn the_html_report_says_when_nothing_meets_the_slo() {
    let report = with_slo(
        one_dim(),
        Some(Slo {
            kpi: Kpi::P99,
            op: Op::Lt,
            value: 10.0,
            rule: SloRule::Mean,
        }),
    );
    assert_eq!(report.first_meeting_slo, None);
    let html = html_report(&report).unwrap();
    assert!(html.contains("none meets the SLO"));
    assert!(!html.contains("class=\"answer\""));
    assert_eq!(rows(&html).iter().filter(|r| r.contains("✗")).count(), 6);

    // An SLO on a figure outside the table's gets a column and a chart.
    let p95 = with_slo(
        one_dim(),
        Some(Slo {
            kpi: Kpi::P95,
            op: Op::Le,
            value: 50.0,
            rule: SloRule::Mean,
        }),
    );
    let html = html_report(&p95).unwrap();
    assert!(html.contains("<th>p95 (ms)</th><th>meets SLO</th>"));
    assert_eq!(html.matches("<svg").count(), 4);
    // p95 = 0.8 p99 <= 50 from 58 ms on: configuration 3.
    assert!(html.contains("id=\"config-3\" class=\"answer\""));

    // Without an SLO: no SLO column, no answer.
    let html = html_report(&with_slo(one_dim(), None)).unwrap();
    assert!(html.contains("<dt>SLO</dt><dd>none</dd>"));
    assert!(!html.contains("meets SLO") && !html.contains("First to meet"));
}

#[test]
fn a_shard_says_so() {
    let mut report = two_dim();
    report.shard = Some([1, 2]);
    report.configurations.retain(|c| c.index % 2 == 1);
    let html = html_report(&report).unwrap();
    assert!(html.contains("8 configurations; this is shard 1/2: 4 of them"));
    assert_eq!(rows(&html).len(), 4);
}

#[test]
fn a_saturated_configuration_is_clipped_and_labelled_not_allowed_to_flatten_the_rest() {
    let mut r = one_dim();
    let first = r.configurations[0].kpis.get_mut("p99").unwrap();
    first.mean = 37_460.2;
    first.ci95 = Some(900.0);
    let svg = kpi_svg(&r, Kpi::P99).unwrap();
    assert!(svg.contains("↑ 37460"), "the clipped value is printed");
    // The y axis stops near the other points: no tick label in the thousands.
    assert!(
        !svg.contains(">30000<") && !svg.contains(">10000<"),
        "axis not clipped"
    );
}
