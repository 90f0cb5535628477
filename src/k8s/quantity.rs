//! Kubernetes resource quantities (`250m`, `1.5Gi`, `1e3`) and a pod's resource requests.
//!
//! Parsing follows apimachinery's `resource.ParseQuantity` grammar:
//!
//! ```text
//! quantity        ::= signedNumber suffix
//! signedNumber    ::= [ "+" | "-" ] number
//! number          ::= digits | digits "." digits | digits "." | "." digits
//! suffix          ::= binarySI | decimalSI | decimalExponent
//! binarySI        ::= Ki | Mi | Gi | Ti | Pi | Ei                 (powers of 2^10)
//! decimalSI       ::= n | u | m | "" | k | M | G | T | P | E      (10^-9 .. 10^18)
//! decimalExponent ::= ( "e" | "E" ) [ "+" | "-" ] digits
//! ```
//!
//! Surrounding whitespace is ignored, as in the JSON unmarshaller. Values are kept exact
//! ([`ParsedQuantity`]) so that conversions round like Kubernetes: `MilliValue()` and
//! `Value()` round **up**, hence `0.1` CPU is exactly 100 millicores and `0.5` bytes is 1.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use thiserror::Error;

use crate::model::resources::Resources;

/// Why a quantity could not be used as a resource amount.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum QuantityError {
    /// The text does not follow the quantity grammar.
    #[error("{quantity:?} is not a valid quantity: {reason}")]
    Syntax {
        /// The offending text.
        quantity: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A negative amount where a resource amount (`>= 0`) is expected.
    #[error("{quantity:?} is negative; resource amounts must be >= 0")]
    Negative {
        /// The offending text.
        quantity: String,
    },
    /// The value does not fit: more than 38 significant digits, an exponent beyond
    /// 32 bits, or more than `u64::MAX` after conversion to `unit`.
    #[error("{quantity:?} is out of range for {unit}")]
    OutOfRange {
        /// The offending text.
        quantity: String,
        /// The unit it was converted to (`millicores`, `bytes`, or `an exact value`).
        unit: &'static str,
    },
    /// An error at a place in a pod spec, e.g. `containers[web].resources.limits.cpu`.
    ///
    /// The inner error is part of this message (so one line names both the container
    /// and the quantity) and is therefore not also reported as a `source`.
    #[error("{path}: {error}")]
    In {
        /// Field path relative to the pod spec, naming the container.
        path: String,
        /// The error with the quantity found there.
        error: Box<QuantityError>,
    },
}

/// An exactly parsed quantity: `(-1)^negative * significand * 10^exp10 * 2^exp2`,
/// with trailing decimal zeros moved into `exp10` (zero is `0 * 10^0 * 2^0`, never
/// negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedQuantity {
    negative: bool,
    significand: u128,
    exp10: i32,
    exp2: u32,
}

impl ParsedQuantity {
    /// Whether the value is below zero (`-0` is not).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value as the nearest-ish `f64` (for display and statistics, not accounting).
    pub fn to_f64(&self) -> f64 {
        let magnitude =
            self.significand as f64 * 10f64.powi(self.exp10) * 2f64.powi(self.exp2 as i32);
        if self.negative { -magnitude } else { magnitude }
    }

    /// `ceil(value * 10^scale)` as a `u64`, like apimachinery's `ScaledValue(-scale)`
    /// (`scale = 3` gives `MilliValue()`, `0` gives `Value()`).
    ///
    /// `None` if the value is negative or the result exceeds `u64::MAX`.
    pub fn ceil_scaled(&self, scale: i32) -> Option<u64> {
        if self.negative {
            return None;
        }
        if self.significand == 0 {
            return Some(0);
        }
        if self.significand.leading_zeros() < self.exp2 {
            return None;
        }
        let n = self.significand << self.exp2;
        let e = i64::from(self.exp10) + i64::from(scale);
        let exact = if e >= 0 {
            n.checked_mul(10u128.checked_pow(u32::try_from(e).ok()?)?)?
        } else {
            match u32::try_from(-e).ok().and_then(|k| 10u128.checked_pow(k)) {
                Some(d) => n / d + u128::from(!n.is_multiple_of(d)),
                // 10^k exceeds u128::MAX > n, so 0 < value < 1 rounds up to 1.
                None => 1,
            }
        };
        u64::try_from(exact).ok()
    }
}

/// Parses a quantity exactly.
///
/// # Errors
///
/// [`QuantityError::Syntax`] when the text breaks the grammar above,
/// [`QuantityError::OutOfRange`] for more than 38 significant digits or an exponent
/// beyond 32 bits.
pub fn parse_quantity(quantity: &Quantity) -> Result<ParsedQuantity, QuantityError> {
    parse_str(&quantity.0)
}

fn parse_str(text: &str) -> Result<ParsedQuantity, QuantityError> {
    let syntax = |reason| QuantityError::Syntax {
        quantity: text.to_owned(),
        reason,
    };
    let out_of_range = || QuantityError::OutOfRange {
        quantity: text.to_owned(),
        unit: "an exact value",
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(syntax("empty"));
    }
    let (negative, s) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int_digits, rest) = s.split_at(int_len);
    let (frac_digits, suffix) = match rest.strip_prefix('.') {
        Some(after) => after.split_at(after.bytes().take_while(u8::is_ascii_digit).count()),
        None => ("", rest),
    };
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(syntax("expected a number"));
    }
    let mut significand: u128 = 0;
    for digit in int_digits.bytes().chain(frac_digits.bytes()) {
        significand = significand
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(digit - b'0')))
            .ok_or_else(out_of_range)?;
    }
    let (suffix_exp10, exp2) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => match suffix.strip_prefix(['e', 'E']) {
            Some(exp) => {
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax("malformed decimal exponent"));
                }
                (exp.parse::<i32>().map_err(|_| out_of_range())?, 0)
            }
            None => {
                return Err(syntax(
                    "unknown suffix (expected n u m k M G T P E, Ki..Ei or e<exponent>)",
                ));
            }
        },
    };
    let frac_len = i32::try_from(frac_digits.len()).map_err(|_| out_of_range())?;
    let mut exp10 = suffix_exp10
        .checked_sub(frac_len)
        .ok_or_else(out_of_range)?;
    if significand == 0 {
        return Ok(ParsedQuantity {
            negative: false,
            significand: 0,
            exp10: 0,
            exp2: 0,
        });
    }
    while significand.is_multiple_of(10) {
        significand /= 10;
        exp10 = exp10.checked_add(1).ok_or_else(out_of_range)?;
    }
    Ok(ParsedQuantity {
        negative,
        significand,
        exp10,
        exp2,
    })
}

fn non_negative_scaled(
    quantity: &Quantity,
    scale: i32,
    unit: &'static str,
) -> Result<u64, QuantityError> {
    let parsed = parse_quantity(quantity)?;
    if parsed.is_negative() {
        return Err(QuantityError::Negative {
            quantity: quantity.0.clone(),
        });
    }
    parsed
        .ceil_scaled(scale)
        .ok_or_else(|| QuantityError::OutOfRange {
            quantity: quantity.0.clone(),
            unit,
        })
}

/// CPU in millicores, rounded up like Kubernetes' `MilliValue()`: `0.1` → 100,
/// `1` → 1000, `250m` → 250, `100` → 100000, `1u` → 1.
///
/// # Errors
///
/// A [`QuantityError`] naming the text if it does not parse, is negative, or exceeds
/// `u64::MAX` millicores.
pub fn cpu_millis(quantity: &Quantity) -> Result<u64, QuantityError> {
    non_negative_scaled(quantity, 3, "millicores")
}

/// Memory in bytes, rounded up like Kubernetes' `Value()`: `1Ki` → 1024, `1k` → 1000,
/// `128Mi` → 134217728, `1.5` → 2.
///
/// # Errors
///
/// A [`QuantityError`] naming the text if it does not parse, is negative, or exceeds
/// `u64::MAX` bytes.
pub fn memory_bytes(quantity: &Quantity) -> Result<u64, QuantityError> {
    non_negative_scaled(quantity, 0, "bytes")
}

/// The pod's effective resource request, as kube-scheduler computes it
/// (`resourcehelper.PodRequests`, after API-server defaulting):
///
/// - per container, a resource without a request but with a limit requests its limit;
/// - regular containers and restartable ("sidecar", `restartPolicy: Always`) init
///   containers add up;
/// - each other init container runs alone with the sidecars started before it, so the
///   pod needs at least `max(init request + earlier sidecars)`;
/// - pod request = component-wise `max(sum, init maximum)`;
/// - pod-level `resources` (PodLevelResources): an explicit pod-level request replaces
///   the aggregate; a pod-level limit alone is the request when no container requests
///   that resource;
/// - `overhead` (RuntimeClass) is added last.
///
/// Only `cpu` and `memory` are read; other resource names are ignored. Sums saturate
/// at `u64::MAX`.
///
/// # Errors
///
/// [`QuantityError::In`] naming the field path with the container (e.g.
/// `initContainers[setup].resources.limits.memory`) around the quantity's error.
pub fn pod_requests(spec: &PodSpec) -> Result<Resources, QuantityError> {
    let mut sum = Resources::ZERO;
    for container in &spec.containers {
        sum = sum.saturating_add(container_requests("containers", container)?);
    }
    let mut sidecars = Resources::ZERO;
    let mut init_max = Resources::ZERO;
    for container in spec.init_containers.iter().flatten() {
        let request = container_requests("initContainers", container)?;
        if container.restart_policy.as_deref() == Some("Always") {
            sum = sum.saturating_add(request);
            sidecars = sidecars.saturating_add(request);
            init_max = init_max.max(sidecars);
        } else {
            init_max = init_max.max(request.saturating_add(sidecars));
        }
    }
    let mut total = sum.max(init_max);
    if let Some(pod_level) = &spec.resources {
        let one = |name: &str, aggregate: u64, convert: Convert| {
            let at = |kind: &str| format!("resources.{kind}.{name}");
            match read(pod_level.requests.as_ref(), name, convert, || {
                at("requests")
            })? {
                Some(request) => Ok(request),
                None if aggregate == 0 => {
                    Ok(
                        read(pod_level.limits.as_ref(), name, convert, || at("limits"))?
                            .unwrap_or(0),
                    )
                }
                None => Ok(aggregate),
            }
        };
        total = Resources::new(
            one("cpu", total.cpu_millis, cpu_millis)?,
            one("memory", total.memory_bytes, memory_bytes)?,
        );
    }
    let overhead = |name: &str, convert: Convert| {
        read(spec.overhead.as_ref(), name, convert, || {
            format!("overhead.{name}")
        })
    };
    let cpu = overhead("cpu", cpu_millis)?.unwrap_or(0);
    let memory = overhead("memory", memory_bytes)?.unwrap_or(0);
    Ok(total.saturating_add(Resources::new(cpu, memory)))
}

type Convert = fn(&Quantity) -> Result<u64, QuantityError>;

/// One container's requests, each defaulting to the limit of the same resource.
fn container_requests(list: &str, container: &Container) -> Result<Resources, QuantityError> {
    let Some(resources) = &container.resources else {
        return Ok(Resources::ZERO);
    };
    let one = |name: &str, convert: Convert| {
        let at = |kind: &str| format!("{list}[{}].resources.{kind}.{name}", container.name);
        match read(resources.requests.as_ref(), name, convert, || {
            at("requests")
        })? {
            Some(request) => Ok(request),
            None => {
                Ok(read(resources.limits.as_ref(), name, convert, || at("limits"))?.unwrap_or(0))
            }
        }
    };
    Ok(Resources::new(
        one("cpu", cpu_millis)?,
        one("memory", memory_bytes)?,
    ))
}

/// Converts `list[name]` if present; an error is wrapped in [`QuantityError::In`] at
/// `path()` (built only then).
fn read(
    list: Option<&BTreeMap<String, Quantity>>,
    name: &str,
    convert: Convert,
    path: impl FnOnce() -> String,
) -> Result<Option<u64>, QuantityError> {
    match list.and_then(|l| l.get(name)) {
        Some(quantity) => convert(quantity)
            .map(Some)
            .map_err(|error| QuantityError::In {
                path: path(),
                error: Box::new(error),
            }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn q(text: &str) -> Quantity {
        Quantity(text.to_owned())
    }

    /// `(text, millicores)`.
    #[rustfmt::skip]
    const MILLIS: [(&str, u64); 24] = [
        ("0", 0), ("-0", 0), ("1", 1000), ("+1", 1000), ("0.1", 100), ("100", 100_000),
        ("250m", 250), ("1.", 1000), (".5", 500), ("007", 7000), ("1u", 1), ("1n", 1),
        ("1000000n", 1), ("1000001n", 2), ("0.0001", 1), ("1k", 1_000_000),
        ("1e3", 1_000_000), ("1E3", 1_000_000), ("1e+3", 1_000_000), ("15e-1", 1500),
        ("1.5e-3", 2), ("2P", 2_000_000_000_000_000_000), ("1Ki", 1_024_000), (" 2 ", 2000),
    ];

    /// `(text, bytes)`.
    #[rustfmt::skip]
    const BYTES: [(&str, u64); 16] = [
        ("1Ki", 1024), ("128Mi", 128 << 20), ("1.5Gi", 3 << 29), ("1Ti", 1 << 40),
        ("1Pi", 1 << 50), ("1Ei", 1 << 60), ("1k", 1000), ("1M", 1_000_000),
        ("1G", 1_000_000_000), ("1T", 1_000_000_000_000), ("1P", 1_000_000_000_000_000),
        ("1.5", 2), ("100m", 1), ("0.5Ki", 512), ("1e9", 1_000_000_000),
        ("2E", 2_000_000_000_000_000_000),
    ];

    #[test]
    fn grammar_table() {
        for (text, expected) in MILLIS {
            assert_eq!(cpu_millis(&q(text)), Ok(expected), "{text}");
        }
        for (text, expected) in BYTES {
            assert_eq!(memory_bytes(&q(text)), Ok(expected), "{text}");
        }
    }

    #[test]
    fn grammar_errors() {
        let syntax = [
            "", " ", "abc", ".", "-", "+", "1.2.3", "1K", "1ki", "1 Gi", "1e", "1e+", "1e3e",
            "1Ki3", "1i", "--1", "0x10", "1,5",
        ];
        for text in syntax {
            let err = parse_quantity(&q(text)).unwrap_err();
            assert!(
                matches!(err, QuantityError::Syntax { ref quantity, .. } if quantity == text),
                "{text}: {err:?}"
            );
        }
        assert_eq!(
            cpu_millis(&q("-100m")),
            Err(QuantityError::Negative {
                quantity: "-100m".into()
            })
        );
        assert_eq!(
            memory_bytes(&q("16Ei")),
            Err(QuantityError::OutOfRange {
                quantity: "16Ei".into(),
                unit: "bytes"
            })
        );
        assert!(matches!(
            cpu_millis(&q("1e99999999999")),
            Err(QuantityError::OutOfRange { .. })
        ));
        assert!(matches!(
            cpu_millis(&q(&"9".repeat(40))),
            Err(QuantityError::OutOfRange { .. })
        ));
        let err = memory_bytes(&q("12Xi")).unwrap_err().to_string();
        assert!(
            err.starts_with("\"12Xi\" is not a valid quantity: unknown suffix"),
            "{err}"
        );
    }

    #[test]
    fn parsed_values() {
        let half = parse_quantity(&q("-0.5Gi")).unwrap();
        assert!(half.is_negative());
        assert_eq!(half.to_f64(), -536_870_912.0);
        assert_eq!(half.ceil_scaled(0), None);
        let tiny = parse_quantity(&q("1e-50")).unwrap();
        assert_eq!(tiny.ceil_scaled(3), Some(1));
        assert!((tiny.to_f64() - 1e-50).abs() < 1e-60);
        assert_eq!(
            parse_quantity(&q("1.000")).unwrap(),
            parse_quantity(&q("1")).unwrap()
        );
        assert_eq!(
            parse_quantity(&q("0e7")).unwrap().ceil_scaled(i32::MAX),
            Some(0)
        );
    }

    fn resources(
        requests: &[(&str, &str)],
        limits: &[(&str, &str)],
    ) -> Option<ResourceRequirements> {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect())
        };
        Some(ResourceRequirements {
            requests: map(requests),
            limits: map(limits),
            ..Default::default()
        })
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        Container {
            name: name.into(),
            resources: resources(requests, limits),
            ..Default::default()
        }
    }

    const MI: u64 = 1 << 20;

    #[test]
    fn requests_default_to_limits_per_resource() {
        let spec = PodSpec {
            containers: vec![
                container("limits-only", &[], &[("cpu", "500m"), ("memory", "256Mi")]),
                container(
                    "mixed",
                    &[("cpu", "100m")],
                    &[("cpu", "2"), ("memory", "64Mi")],
                ),
                container("none", &[], &[]),
                container("gpu", &[("nvidia.com/gpu", "1")], &[]),
            ],
            ..Default::default()
        };
        assert_eq!(pod_requests(&spec), Ok(Resources::new(600, 320 * MI)));
    }

    #[test]
    fn init_containers_take_the_max_and_sidecars_add() {
        let mut spec = PodSpec {
            containers: vec![container(
                "app",
                &[("cpu", "200m"), ("memory", "100Mi")],
                &[],
            )],
            init_containers: Some(vec![
                container("migrate", &[("cpu", "1"), ("memory", "50Mi")], &[]),
                container("warm", &[("cpu", "100m"), ("memory", "80Mi")], &[]),
            ]),
            ..Default::default()
        };
        assert_eq!(pod_requests(&spec), Ok(Resources::new(1000, 100 * MI)));
        let mut sidecar = container("proxy", &[("cpu", "50m"), ("memory", "30Mi")], &[]);
        sidecar.restart_policy = Some("Always".into());
        spec.init_containers.as_mut().unwrap().insert(1, sidecar);
        // app + proxy = 250m/130Mi runs; "warm" runs beside proxy: 150m/110Mi; "migrate" alone.
        assert_eq!(pod_requests(&spec), Ok(Resources::new(1000, 130 * MI)));
    }

    #[test]
    fn overhead_and_pod_level_resources() {
        let mut spec = PodSpec {
            containers: vec![container("app", &[("cpu", "250m")], &[])],
            overhead: Some(
                [
                    ("cpu".to_string(), q("10m")),
                    ("memory".to_string(), q("20Mi")),
                ]
                .into(),
            ),
            ..Default::default()
        };
        assert_eq!(pod_requests(&spec), Ok(Resources::new(260, 20 * MI)));
        spec.resources = resources(&[("cpu", "1")], &[("cpu", "2"), ("memory", "1Gi")]);
        assert_eq!(pod_requests(&spec), Ok(Resources::new(1010, 1044 * MI)));
    }

    #[test]
    fn errors_name_container_and_quantity() {
        let spec = PodSpec {
            containers: vec![container("web", &[], &[("cpu", "-1")])],
            ..Default::default()
        };
        let err = pod_requests(&spec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "containers[web].resources.limits.cpu: \"-1\" is negative; resource amounts must be >= 0"
        );
        let spec = PodSpec {
            init_containers: Some(vec![container("setup", &[("memory", "1 Gi")], &[])]),
            ..Default::default()
        };
        let err = pod_requests(&spec).unwrap_err().to_string();
        assert!(
            err.starts_with("initContainers[setup].resources.requests.memory: \"1 Gi\""),
            "{err}"
        );
        let spec = PodSpec {
            overhead: Some([("cpu".to_string(), q("x"))].into()),
            ..Default::default()
        };
        assert!(
            pod_requests(&spec)
                .unwrap_err()
                .to_string()
                .starts_with("overhead.cpu: \"x\"")
        );
    }
}
