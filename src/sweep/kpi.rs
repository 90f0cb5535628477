//! The figures a sweep compares configurations by, and service-level objectives on them
//! (`p99<=60ms`, `mean<40`, `errors<=0.001`, `cost<=2.5`).

use serde::{Deserialize, Serialize};

use super::SweepError;
use crate::sim::RunReport;

/// The key figures of one run. Times in milliseconds; `None` when nothing completed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kpis {
    /// The replication's seed.
    pub seed: u64,
    /// User requests that arrived.
    pub arrived: u64,
    /// TTR mean of measured requests.
    pub mean: Option<f64>,
    /// TTR median.
    pub p50: Option<f64>,
    /// TTR 90th percentile.
    pub p90: Option<f64>,
    /// TTR 95th percentile.
    pub p95: Option<f64>,
    /// TTR 99th percentile.
    pub p99: Option<f64>,
    /// TTR 99.9th percentile.
    pub p999: Option<f64>,
    /// (rejected + failed) / arrived.
    pub errors: f64,
    /// CPU requests x bound hours, in core-hours.
    pub core_hours: f64,
    /// Pods' share of their nodes' prices x hours (see `RunReport::cost`).
    pub cost: f64,
}

impl Kpis {
    /// The figures of `report`.
    pub fn of(report: &RunReport) -> Self {
        let q = report.requests;
        let t = report.ttr;
        Kpis {
            seed: report.seed,
            arrived: q.arrived,
            mean: t.mean,
            p50: t.p50,
            p90: t.p90,
            p95: t.p95,
            p99: t.p99,
            p999: t.p999,
            errors: if q.arrived == 0 {
                0.0
            } else {
                (q.rejected + q.failed) as f64 / q.arrived as f64
            },
            core_hours: report.cost.cpu_core_hours,
            cost: report.cost.price,
        }
    }

    /// The value of `kpi`.
    pub fn get(&self, kpi: Kpi) -> Option<f64> {
        match kpi {
            Kpi::Mean => self.mean,
            Kpi::P50 => self.p50,
            Kpi::P90 => self.p90,
            Kpi::P95 => self.p95,
            Kpi::P99 => self.p99,
            Kpi::P999 => self.p999,
            Kpi::Errors => Some(self.errors),
            Kpi::CoreHours => Some(self.core_hours),
            Kpi::Cost => Some(self.cost),
        }
    }
}

/// A figure by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kpi {
    /// TTR mean, ms.
    Mean,
    /// TTR p50, ms.
    P50,
    /// TTR p90, ms.
    P90,
    /// TTR p95, ms.
    P95,
    /// TTR p99, ms.
    P99,
    /// TTR p99.9, ms.
    P999,
    /// Error ratio.
    Errors,
    /// Core-hours.
    CoreHours,
    /// Priced cost.
    Cost,
}

impl Kpi {
    /// Every figure, in report order.
    pub const ALL: [Kpi; 9] = [
        Kpi::Mean,
        Kpi::P50,
        Kpi::P90,
        Kpi::P95,
        Kpi::P99,
        Kpi::P999,
        Kpi::Errors,
        Kpi::CoreHours,
        Kpi::Cost,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kpi::Mean => "mean",
            Kpi::P50 => "p50",
            Kpi::P90 => "p90",
            Kpi::P95 => "p95",
            Kpi::P99 => "p99",
            Kpi::P999 => "p999",
            Kpi::Errors => "errors",
            Kpi::CoreHours => "core-hours",
            Kpi::Cost => "cost",
        }
    }

    /// Its unit, for labels.
    pub fn unit(self) -> &'static str {
        match self {
            Kpi::Errors => "ratio",
            Kpi::CoreHours => "core-h",
            Kpi::Cost => "price units",
            _ => "ms",
        }
    }

    /// Whether it is a TTR time (in ms).
    pub fn is_time(self) -> bool {
        self.unit() == "ms"
    }
}

impl std::str::FromStr for Kpi {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Kpi::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            format!(
                "unknown figure {s:?} (known: {})",
                Kpi::ALL.map(Kpi::name).join(", ")
            )
        })
    }
}

/// A service-level objective: `KPI OP VALUE[ms|s]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slo {
    /// The figure.
    pub kpi: Kpi,
    /// `<=` or `<` (`at_most`), or `>=`/`>`.
    pub op: Op,
    /// The bound, in the figure's unit (ms for times).
    pub value: f64,
    /// How replications are judged against it.
    #[serde(default)]
    pub rule: SloRule,
}

/// How a configuration's replications are judged against an SLO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SloRule {
    /// The far end of the 95% confidence interval of the mean must meet it: the upper
    /// bound for `<=`/`<`, the lower bound for `>=`/`>`. A configuration is then not
    /// passed by the luck of its replications. With one replication there is no interval
    /// and the mean is judged.
    #[default]
    Bound,
    /// The mean over replications must meet it.
    Mean,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
}

impl Slo {
    /// The value judged under `rule` for a figure's estimate over replications: the mean,
    /// or the end of its 95% interval on the failing side.
    pub fn judged(&self, e: &super::Estimate, rule: SloRule) -> f64 {
        let half = match rule {
            SloRule::Mean => 0.0,
            SloRule::Bound => e.ci95.unwrap_or(0.0),
        };
        match self.op {
            Op::Le | Op::Lt => e.mean + half,
            Op::Ge | Op::Gt => e.mean - half,
        }
    }

    /// Whether `value` meets the objective (`None`, no value, does not).
    pub fn met_by(&self, value: Option<f64>) -> bool {
        value.is_some_and(|v| match self.op {
            Op::Le => v <= self.value,
            Op::Lt => v < self.value,
            Op::Ge => v >= self.value,
            Op::Gt => v > self.value,
        })
    }
}

impl std::str::FromStr for SloRule {
    type Err = SweepError;

    fn from_str(s: &str) -> Result<Self, SweepError> {
        match s {
            "bound" => Ok(SloRule::Bound),
            "mean" => Ok(SloRule::Mean),
            _ => Err(SweepError::Slo {
                expression: s.to_owned(),
                message: "--slo-rule: expected bound or mean".into(),
            }),
        }
    }
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
        };
        let unit = if self.kpi.is_time() { "ms" } else { "" };
        write!(f, "{}{op}{}{unit}", self.kpi.name(), self.value)
    }
}

impl std::str::FromStr for Slo {
    type Err = SweepError;

    fn from_str(s: &str) -> Result<Self, SweepError> {
        let bad = |message: String| SweepError::Slo {
            expression: s.to_owned(),
            message,
        };
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, op, len) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(sym, op)| compact.find(sym).map(|at| (at, op, sym.len())))
            .ok_or_else(|| bad("expected KPI<=VALUE, e.g. p99<=60ms".into()))?;
        let kpi: Kpi = compact[..at].parse().map_err(bad)?;
        let raw = &compact[at + len..];
        let (number, scale) = if let Some(n) = raw.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = raw.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (raw, 1.0)
        };
        if scale != 1.0 && !kpi.is_time() || raw.ends_with("ms") && !kpi.is_time() {
            return Err(bad(format!(
                "{} is not a time: write the bound without a unit",
                kpi.name()
            )));
        }
        let value: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| bad(format!("{raw:?} is not a number")))?;
        Ok(Slo {
            kpi,
            op,
            value: value * scale,
            rule: SloRule::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_with_units() {
        let slo: Slo = "p99<=60ms".parse().unwrap();
        assert_eq!((slo.kpi, slo.op, slo.value), (Kpi::P99, Op::Le, 60.0));
        assert_eq!("mean < 0.5s".parse::<Slo>().unwrap().value, 500.0);
        assert_eq!("errors<=0.001".parse::<Slo>().unwrap().kpi, Kpi::Errors);
        assert_eq!(slo.to_string(), "p99<=60ms");
        assert!(slo.met_by(Some(60.0)) && !slo.met_by(Some(60.1)) && !slo.met_by(None));
    }

    #[test]
    fn bad_slos_say_why() {
        for (s, why) in [
            ("p99=60", "expected KPI<=VALUE"),
            ("p98<=60", "unknown figure"),
            ("p99<=sixty", "is not a number"),
            ("cost<=5ms", "not a time"),
        ] {
            let e = s.parse::<Slo>().unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
