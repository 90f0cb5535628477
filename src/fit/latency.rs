//! Latency matrices from published summaries: a mean and one percentile per location pair.
//!
//! Inter-region latency measurements are usually summarised as a mean and a high percentile
//! (e.g. the AWS inter-region p99). As in twin-model.md §4, each pair becomes a normal with
//! that mean and the standard deviation that puts the percentile where it was measured
//! ([`sigma_from_percentile`]), truncated at 0 so that no latency is negative.
//!
//! The CSV has a header naming (in any order, extra columns ignored) `from`, `to`, `mean_ms`,
//! `percentile` (in `(0, 100)`, e.g. `99`) and `value_ms` (that percentile's value). Lines
//! starting with `#` are comments; fields are trimmed.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;

use crate::fit::dist::sigma_from_percentile;
use crate::fit::family::FitError;
use crate::model::dist::DistSpec;

/// The one-way latency from one location to another.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyPair {
    /// Source location (e.g. `eu-south-1`).
    pub from: String,
    /// Destination location.
    pub to: String,
    /// The latency in milliseconds: a [`DistSpec::Normal`] with `min: 0`.
    pub spec: DistSpec,
}

const COLUMNS: [&str; 5] = ["from", "to", "mean_ms", "percentile", "value_ms"];

/// Reads latency summaries (see the module docs) into one truncated normal per row, in file
/// order.
///
/// # Errors
/// [`FitError::Csv`] for unreadable CSV, [`FitError::MissingColumn`] for a header without a
/// required column, [`FitError::BadField`] naming the line and column of an empty,
/// non-numeric or inconsistent field (a percentile outside `(0, 100)` or equal to 50, a
/// negative mean, a value on the wrong side of the mean), [`FitError::DuplicatePair`] for a
/// pair given twice, and [`FitError::NoData`] when there are no rows.
pub fn latency_matrix_from_summaries(csv: impl Read) -> Result<Vec<LatencyPair>, FitError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(true)
        .from_reader(csv);
    let header = reader
        .headers()
        .map_err(|source| FitError::Csv { line: 1, source })?
        .clone();
    let mut index = [0; 5];
    for (slot, column) in index.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h == column)
            .ok_or(FitError::MissingColumn { column })?;
    }
    let mut pairs = Vec::new();
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|source| {
            let line = source.position().map_or(0, csv::Position::line);
            FitError::Csv { line, source }
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |i: usize| -> Result<&str, FitError> {
            match record.get(index[i]) {
                Some(value) if !value.is_empty() => Ok(value),
                _ => Err(bad(line, COLUMNS[i], "missing value".to_string())),
            }
        };
        let number = |i: usize| -> Result<f64, FitError> {
            let text = field(i)?;
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(bad(
                    line,
                    COLUMNS[i],
                    format!("`{text}` is not a finite number"),
                )),
            }
        };
        let (from, to) = (field(0)?.to_string(), field(1)?.to_string());
        let (mean, percentile, value) = (number(2)?, number(3)?, number(4)?);
        if mean < 0.0 {
            return Err(bad(
                line,
                "mean_ms",
                format!("a latency cannot be negative, got {mean}"),
            ));
        }
        if !(percentile > 0.0 && percentile < 100.0) || percentile == 50.0 {
            let problem = format!("must be in (0, 100) and not 50 (e.g. 99), got {percentile}");
            return Err(bad(line, "percentile", problem));
        }
        let std_dev = sigma_from_percentile(mean, percentile / 100.0, value).map_err(|e| {
            let column = match e.path() {
                "mean" => "mean_ms",
                "percentile" => "percentile",
                _ => "value_ms",
            };
            bad(line, column, e.message().to_string())
        })?;
        if let Some(&first) = seen.get(&(from.clone(), to.clone())) {
            return Err(FitError::DuplicatePair {
                line,
                first,
                from,
                to,
            });
        }
        seen.insert((from.clone(), to.clone()), line);
        let spec = DistSpec::Normal {
            mean,
            std_dev,
            min: Some(0.0),
            max: None,
        };
        pairs.push(LatencyPair { from, to, spec });
    }
    if pairs.is_empty() {
        return Err(FitError::NoData {
            what: "the latency summaries have no rows",
        });
    }
    Ok(pairs)
}

fn bad(line: u64, column: &'static str, problem: String) -> FitError {
    FitError::BadField {
        line,
        column,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<LatencyPair>, FitError> {
        latency_matrix_from_summaries(text.as_bytes())
    }

    fn bad_field(text: &str) -> (u64, &'static str, String) {
        match read(text) {
            Err(FitError::BadField {
                line,
                column,
                problem,
            }) => (line, column, problem),
            other => panic!("expected a bad field, got {other:?}"),
        }
    }

    #[test]
    fn table_one_row_is_reproduced_from_mean_and_p99() {
        // eu-south-1 -> eu-central-1: mean 12.60, sigma 5.82 ms; p99 = mean + 5.82 z_0.99.
        let p99 = 12.60 + 5.82 * 2.326_348;
        let csv = format!(
            "# AWS inter-region, one way\nfrom, to, mean_ms, percentile, value_ms, note\n\
             eu-south-1, eu-central-1, 12.60, 99, {p99}, table I\n\
             eu-central-1, eu-south-1, 12.60, 99.9, 30.585\n"
        );
        let pairs = read(&csv).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            (pairs[0].from.as_str(), pairs[0].to.as_str()),
            ("eu-south-1", "eu-central-1")
        );
        let DistSpec::Normal {
            mean,
            std_dev,
            min,
            max,
        } = pairs[0].spec
        else {
            panic!()
        };
        assert_eq!((mean, min, max), (12.60, Some(0.0), None));
        assert!((std_dev - 5.82).abs() < 1e-3, "sigma {std_dev}");
        // z_0.999 = 3.090232: (30.585 - 12.60) / 3.090232 = 5.8199...
        let DistSpec::Normal { std_dev, .. } = pairs[1].spec else {
            panic!()
        };
        assert!((std_dev - 5.82).abs() < 1e-3, "sigma {std_dev}");
    }

    #[test]
    fn malformed_rows_name_their_line_and_column() {
        let head = "from,to,mean_ms,percentile,value_ms\n";
        let case = |row: &str| bad_field(&format!("{head}a,b,10,99,20\n{row}\n"));
        let (line, column, problem) = case("a,c,ten,99,20");
        assert_eq!((line, column), (3, "mean_ms"));
        assert!(problem.contains("`ten`"), "{problem}");
        assert_eq!(case("a,,10,99,20").1, "to");
        assert_eq!(case("a,c,10").1, "percentile");
        assert_eq!(case("a,c,-1,99,20").1, "mean_ms");
        assert_eq!(case("a,c,10,50,20").1, "percentile");
        assert_eq!(case("a,c,10,100,20").1, "percentile");
        assert_eq!(case("a,c,10,99,NaN").1, "value_ms");
        let (_, column, problem) = case("a,c,10,99,5");
        assert_eq!(column, "value_ms");
        assert!(problem.contains("above the mean"), "{problem}");
    }

    #[test]
    fn structural_problems_are_errors() {
        let head = "from,to,mean_ms,percentile,value_ms\n";
        let dup = read(&format!("{head}a,b,10,99,20\na,b,11,99,21\n"));
        assert!(matches!(
            dup,
            Err(FitError::DuplicatePair {
                line: 3,
                first: 2,
                ..
            })
        ));
        let missing = read("from,to,mean_ms,percentile\na,b,1,99\n");
        assert!(matches!(
            missing,
            Err(FitError::MissingColumn { column: "value_ms" })
        ));
        assert!(matches!(read(head), Err(FitError::NoData { .. })));
        let utf8 = latency_matrix_from_summaries(
            &b"from,to,mean_ms,percentile,value_ms\na,\xff,1,99,2\n"[..],
        );
        assert!(
            matches!(utf8, Err(FitError::Csv { line: 2, .. })),
            "{utf8:?}"
        );
    }
}
