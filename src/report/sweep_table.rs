//! A sweep's results as an aligned table and as CSV.

use std::io::{self, Write};

use crate::sweep::{Estimate, Kpi, SweepReport};

/// The figures the table shows, with CI half-widths.
const TABLE_KPIS: [Kpi; 5] = [Kpi::Mean, Kpi::P99, Kpi::P999, Kpi::Errors, Kpi::Cost];

fn cell(e: Option<&Estimate>, kpi: Kpi) -> String {
    let digits = if kpi.is_time() { 2 } else { 4 };
    match e {
        None => "-".into(),
        Some(Estimate {
            mean,
            ci95: Some(ci),
            ..
        }) => format!("{mean:.digits$} ±{ci:.digits$}"),
        Some(Estimate { mean, .. }) => format!("{mean:.digits$}"),
    }
}

/// Writes one row per configuration: its settings, the figures (mean ± 95% CI half-width)
/// and whether it meets the SLO.
pub fn write_sweep_table(out: &mut impl Write, r: &SweepReport) -> io::Result<()> {
    writeln!(
        out,
        "kubetwin sweep {} ({} configurations x {} replications, seeds {}..{})",
        r.scenario,
        r.configurations.len(),
        r.replications,
        r.seed,
        r.seed + u64::from(r.replications) - 1
    )?;
    if let Some([i, n]) = r.shard {
        writeln!(out, "shard {i}/{n}")?;
    }
    let widths: Vec<usize> = r.dimensions.iter().map(|d| d.path.len().max(6)).collect();
    for (d, w) in r.dimensions.iter().zip(&widths) {
        write!(out, "{:<w$}  ", d.path)?;
    }
    for k in TABLE_KPIS {
        let head = if k.is_time() {
            format!("{} (ms)", k.name())
        } else {
            k.name().to_owned()
        };
        write!(out, "{head:>20}")?;
    }
    writeln!(out, "{}", if r.slo.is_some() { "  SLO" } else { "" })?;
    for c in &r.configurations {
        for (v, w) in c.settings.iter().zip(&widths) {
            write!(out, "{v:<w$}  ")?;
        }
        for k in TABLE_KPIS {
            write!(out, "{:>20}", cell(c.kpis.get(k.name()), k))?;
        }
        let mark = match (c.meets_slo, c.meets_slo_mean) {
            (Some(true), _) if r.first_meeting_slo == Some(c.index) => "  yes <- first",
            (Some(true), _) => "  yes",
            // Met by the mean but not by the interval's far end: say so.
            (Some(false), Some(true)) => "  no (mean: yes)",
            (Some(false), _) => "  no",
            (None, _) => "",
        };
        writeln!(out, "{mark}")?;
    }
    if let Some(slo) = &r.slo {
        match r
            .first_meeting_slo
            .and_then(|i| r.configurations.iter().find(|c| c.index == i))
        {
            Some(c) => {
                let settings: Vec<String> = r
                    .dimensions
                    .iter()
                    .zip(&c.settings)
                    .map(|(d, v)| format!("{}={v}", d.path))
                    .collect();
                writeln!(
                    out,
                    "first configuration meeting {slo}: {}",
                    settings.join(" ")
                )?;
            }
            None => writeln!(out, "no configuration meets {slo}")?,
        }
    }
    Ok(())
}

/// Writes `index,<dimension paths...>,<kpi>,<kpi>_ci95,...,meets_slo` rows.
pub fn write_sweep_csv(out: &mut impl Write, r: &SweepReport) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["index".to_owned()];
    header.extend(r.dimensions.iter().map(|d| d.path.clone()));
    for k in Kpi::ALL {
        header.push(k.name().to_owned());
        header.push(format!("{}_ci95", k.name()));
    }
    header.push("meets_slo".into());
    w.write_record(&header)?;
    for c in &r.configurations {
        let mut row = vec![c.index.to_string()];
        row.extend(c.settings.iter().cloned());
        for k in Kpi::ALL {
            let e = c.kpis.get(k.name());
            row.push(e.map(|e| e.mean.to_string()).unwrap_or_default());
            row.push(
                e.and_then(|e| e.ci95)
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
        }
        row.push(c.meets_slo.map(|m| m.to_string()).unwrap_or_default());
        w.write_record(&row)?;
    }
    w.flush()
}
