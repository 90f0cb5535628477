//! A sweep as one self-contained HTML page: what was run and the answer, the charts of
//! [`super::sweep_plot`], and a table of every configuration.
//!
//! [`html_report`] writes a single document with no external reference (the style sheet is
//! inline, the charts are inline SVG, no scripts, fonts or images), so it can be mailed or
//! archived as is. Every text taken from the report (the scenario's path, the dimensions'
//! paths and values) is escaped. Nothing depends on the clock or on hashing: the same report
//! gives the same bytes.

use std::fmt::Write as _;

use super::fit_plot::PlotError;
use super::sweep_plot::{charted_kpis, kpi_svg};
use crate::sweep::{ConfigResult, Estimate, Kpi, SweepReport};

/// The figures of the table, besides the SLO's if it is another one.
pub const TABLE_KPIS: [Kpi; 5] = [Kpi::Mean, Kpi::P99, Kpi::P999, Kpi::Errors, Kpi::Cost];

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
margin:2em auto;max-width:1100px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.3em}
h2{font-size:1.25em;margin-top:1.6em}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.3em 1.2em;margin:1em 0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
.answer-text{font-weight:600}
.none{color:#b71c1c;font-weight:600}
figure{margin:1.2em 0}
figure svg{width:100%;height:auto;max-width:960px;border:1px solid #ddd}
table{border-collapse:collapse;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f3f3f3}
td.setting{text-align:left}
.ci{color:#666}
td.ok{color:#1b7a1b;text-align:center}
td.no{color:#b71c1c;text-align:center}
tr.answer td{background:#fff4c2;font-weight:600}
";

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decimals that show about four significant digits of `v`.
fn decimals(v: f64) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 2;
    }
    (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize
}

/// Decimals for the column of `kpi`: about four significant digits of its largest mean,
/// so that a column's numbers line up.
fn column_decimals(report: &SweepReport, kpi: Kpi) -> usize {
    let largest = report
        .configurations
        .iter()
        .filter_map(|c| c.kpis.get(kpi.name()))
        .map(|e| e.mean.abs())
        .filter(|m| m.is_finite())
        .fold(0.0, f64::max);
    decimals(largest)
}

/// `mean ± ci95` (both with `d` decimals), or the mean alone.
fn estimate_html(e: &Estimate, d: usize) -> String {
    match e.ci95 {
        Some(h) => format!("{:.d$} <span class=\"ci\">± {h:.d$}</span>", e.mean),
        None => format!("{:.d$}", e.mean),
    }
}

/// `PATH=VALUE` of each dimension of `c`, escaped and joined by `, `.
fn settings_html(report: &SweepReport, c: &ConfigResult) -> String {
    report
        .dimensions
        .iter()
        .zip(&c.settings)
        .map(|(d, v)| format!("<code>{}={}</code>", escape(&d.path), escape(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table's figures: [`TABLE_KPIS`], then the SLO's if it is another one.
fn table_kpis(report: &SweepReport) -> Vec<Kpi> {
    let mut kpis = TABLE_KPIS.to_vec();
    if let Some(slo) = report.slo.filter(|s| !kpis.contains(&s.kpi)) {
        kpis.push(slo.kpi);
    }
    kpis
}

/// The header's facts: scenario, grid, replications, seed, SLO and the answer.
fn facts(out: &mut String, report: &SweepReport) {
    let mut fact = |name: &str, html: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{html}</dd>");
    };
    fact(
        "Scenario",
        format!("<code>{}</code>", escape(&report.scenario)),
    );
    let total: usize = report.dimensions.iter().map(|d| d.values.len()).product();
    let mut grid: Vec<String> = report
        .dimensions
        .iter()
        .map(|d| {
            let values: Vec<String> = d.values.iter().map(|v| escape(v)).collect();
            format!(
                "<code>{}</code> = {} ({} value{})",
                escape(&d.path),
                values.join(", "),
                d.values.len(),
                if d.values.len() == 1 { "" } else { "s" }
            )
        })
        .collect();
    if grid.is_empty() {
        grid.push("no varied field".into());
    }
    let mut size = format!("{total} configuration{}", if total == 1 { "" } else { "s" });
    if let Some([i, n]) = report.shard {
        let _ = write!(
            size,
            "; this is shard {i}/{n}: {} of them",
            report.configurations.len()
        );
    }
    fact("Grid", format!("{}<br>{size}", grid.join("<br>")));
    fact("Replications", report.replications.to_string());
    fact(
        "Seed",
        format!(
            "{} (replication <i>r</i> runs with seed {} + <i>r</i>, the same for every configuration)",
            report.seed, report.seed
        ),
    );
    let Some(slo) = report.slo else {
        fact("SLO", "none".into());
        return;
    };
    fact(
        "SLO",
        format!(
            "<code>{}</code> (on the mean over the replications)",
            escape(&slo.to_string())
        ),
    );
    let first = report
        .first_meeting_slo
        .and_then(|i| report.configurations.iter().find(|c| c.index == i));
    let answer = match first {
        Some(c) => {
            let value = c
                .kpis
                .get(slo.kpi.name())
                .map(|e| {
                    let d = column_decimals(report, slo.kpi);
                    format!(": {} {}", slo.kpi.name(), estimate_html(e, d))
                })
                .unwrap_or_default();
            format!(
                "<a href=\"#config-{i}\" class=\"answer-text\">configuration #{i}</a> {}{value}",
                settings_html(report, c),
                i = c.index
            )
        }
        None => "<span class=\"none\">none meets the SLO</span>".into(),
    };
    fact("First to meet it", answer);
}

/// The table: a row per configuration.
fn table(out: &mut String, report: &SweepReport) {
    let kpis = table_kpis(report);
    let _ = writeln!(
        out,
        "<table>\n<caption>Mean ± half-width of the 95% confidence interval over {} replication{}</caption>",
        report.replications,
        if report.replications == 1 { "" } else { "s" }
    );
    out.push_str("<thead><tr><th>#</th>");
    for d in &report.dimensions {
        let _ = write!(out, "<th><code>{}</code></th>", escape(&d.path));
    }
    for k in &kpis {
        let _ = write!(out, "<th>{} ({})</th>", k.name(), escape(k.unit()));
    }
    if report.slo.is_some() {
        out.push_str("<th>meets SLO</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let digits: Vec<usize> = kpis.iter().map(|&k| column_decimals(report, k)).collect();
    for c in &report.configurations {
        let answer = report.first_meeting_slo == Some(c.index);
        let _ = write!(
            out,
            "<tr id=\"config-{}\"{}><td>{}</td>",
            c.index,
            if answer { " class=\"answer\"" } else { "" },
            c.index
        );
        for v in &c.settings {
            let _ = write!(out, "<td class=\"setting\">{}</td>", escape(v));
        }
        for (k, &d) in kpis.iter().zip(&digits) {
            let cell = c
                .kpis
                .get(k.name())
                .map_or_else(|| "–".into(), |e| estimate_html(e, d));
            let _ = write!(out, "<td>{cell}</td>");
        }
        if report.slo.is_some() {
            out.push_str(match c.meets_slo {
                Some(true) => "<td class=\"ok\">✓</td>",
                Some(false) => "<td class=\"no\">✗</td>",
                None => "<td>–</td>",
            });
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The sweep as one self-contained HTML document (see the module's documentation).
///
/// # Errors
/// [`PlotError::Draw`] when a chart cannot be drawn.
pub fn html_report(report: &SweepReport) -> Result<String, PlotError> {
    let charts = charted_kpis(report)
        .into_iter()
        .map(|k| kpi_svg(report, k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>kubetwin sweep: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>kubetwin sweep</h1>\n<dl class=\"facts\">\n",
        escape(&report.scenario)
    );
    facts(&mut out, report);
    out.push_str("</dl>\n</header>\n<main>\n<section>\n<h2>Charts</h2>\n");
    if charts.is_empty() {
        out.push_str("<p>No figure has a value in any configuration.</p>\n");
    }
    for svg in &charts {
        let _ = writeln!(out, "<figure>\n{}\n</figure>", svg.trim_end());
    }
    out.push_str("</section>\n<section>\n<h2>Configurations</h2>\n");
    table(&mut out, report);
    out.push_str("</section>\n</main>\n</body>\n</html>\n");
    Ok(out)
}
