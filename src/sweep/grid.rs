//! What a sweep varies: `--vary PATH=VALUES`, where `PATH` is an override target
//! (`KIND[/NAME]:FIELD.PATH`, as `--set` takes) and `VALUES` a list (`a,b,c`) or an
//! integer range (`1..20`, `1..20:2`, both ends included). Several dimensions make a grid,
//! enumerated with the last dimension varying fastest.

use serde::{Deserialize, Serialize};

use super::SweepError;
use crate::model::Override;

/// One varied field and its values (YAML scalars or flow values, as `--set` reads them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    /// `KIND[/NAME]:FIELD.PATH`.
    pub path: String,
    /// The values, in order.
    pub values: Vec<String>,
}

impl std::str::FromStr for Dimension {
    type Err = SweepError;

    fn from_str(s: &str) -> Result<Self, SweepError> {
        let bad = |message: String| SweepError::Vary {
            expression: s.to_owned(),
            message,
        };
        let (path, values) = s.split_once('=').ok_or_else(|| {
            bad("expected PATH=VALUES, e.g. deployment:spec.replicas=1..20".into())
        })?;
        let path = path.trim();
        let values = values.trim();
        let values = match values.split_once("..") {
            Some((from, rest)) => {
                let (to, step) = rest.split_once(':').unwrap_or((rest, "1"));
                let int = |v: &str, what: &str| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| bad(format!("the range's {what} {v:?} is not an integer")))
                };
                let (from, to, step) = (int(from, "start")?, int(to, "end")?, int(step, "step")?);
                if step <= 0 || to < from {
                    return Err(bad(format!(
                        "range {from}..{to}:{step} is empty (needs start <= end and step > 0)"
                    )));
                }
                (from..=to)
                    .step_by(step as usize)
                    .map(|v| v.to_string())
                    .collect()
            }
            None => split_top_level(values),
        };
        let dimension = Dimension {
            path: path.to_owned(),
            values,
        };
        if dimension.values.iter().any(String::is_empty) {
            return Err(bad("a value is empty".into()));
        }
        // Every value must make a valid override.
        for v in &dimension.values {
            dimension.setting(v).map_err(|e| bad(e.to_string()))?;
        }
        Ok(dimension)
    }
}

impl Dimension {
    /// The override that sets this dimension to `value`.
    ///
    /// # Errors
    /// When `PATH=value` is not a valid override.
    pub fn setting(&self, value: &str) -> Result<Override, crate::model::ScenarioError> {
        format!("{}={value}", self.path).parse()
    }
}

/// Splits at commas outside `{}` and `[]`, so that YAML flow values like
/// `{type: constant, value: 3}` stay whole.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim().to_owned());
    out
}

/// The configurations of a grid: index `i` has one value index per dimension.
pub fn configuration(dimensions: &[Dimension], mut index: usize) -> Vec<usize> {
    let mut choice = vec![0; dimensions.len()];
    for (d, dim) in dimensions.iter().enumerate().rev() {
        choice[d] = index % dim.values.len();
        index /= dim.values.len();
    }
    choice
}

/// The number of configurations of a grid.
pub fn size(dimensions: &[Dimension]) -> usize {
    dimensions.iter().map(|d| d.values.len()).product()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<String> {
        s.parse::<Dimension>().unwrap().values
    }

    #[test]
    fn ranges_and_lists() {
        assert_eq!(
            values("deployment:spec.replicas=1..4"),
            ["1", "2", "3", "4"]
        );
        assert_eq!(values("deployment:spec.replicas=1..9:4"), ["1", "5", "9"]);
        assert_eq!(
            values("service/ms1:metadata.annotations.x=random, round-robin"),
            ["random", "round-robin"]
        );
        assert_eq!(
            values(
                "workload:spec.flows[0].arrivals={type: poisson, rate: 50},{type: constant, rate: 50}"
            ),
            ["{type: poisson, rate: 50}", "{type: constant, rate: 50}"]
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for (s, why) in [
            ("deployment:spec.replicas", "expected PATH=VALUES"),
            ("deployment:spec.replicas=5..1", "is empty"),
            ("deployment:spec.replicas=1..x", "not an integer"),
            ("deployment:spec.replicas=1..4:0", "is empty"),
            ("deployment:spec.replicas=1,,2", "a value is empty"),
        ] {
            let e = s.parse::<Dimension>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn the_last_dimension_varies_fastest() {
        let dims: Vec<Dimension> = ["a:x=1..2", "b:y=1..3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(size(&dims), 6);
        let all: Vec<_> = (0..6).map(|i| configuration(&dims, i)).collect();
        assert_eq!(all, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
    }
}
