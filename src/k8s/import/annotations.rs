//! The `kubetwin.io/*` annotations an import reads: what a user can state on the objects
//! themselves when no fitted model says it.
//!
//! | object | annotation | value |
//! |---|---|---|
//! | Deployment, StatefulSet | [`SERVICE_TIME`] | a time in ms: a number (constant) or a distribution, e.g. `'{type: logNormal, mu: 2.3, sigma: 0.4}'` |
//! | Deployment, StatefulSet | [`WORKERS`] | workers per pod, an integer >= 1 |
//! | Deployment, StatefulSet | [`QUEUE_CAPACITY`] | waiting requests per pod, an integer >= 0 |
//! | Deployment, StatefulSet | [`CALLS`] | downstream calls in order, `cart, currency:0.5` (Service names, optional probability) |
//! | Deployment, StatefulSet | [`STARTUP`] | bound → container running, in ms (number or distribution) |
//! | Service | [`ENTRY_RATE`] | requests per second users send to it |
//! | Node | [`LATENCY`] | one-way latency in ms from the node's location: `users=18, eu-west-1b=0.9` |
//!
//! The engine's own annotations pass through unchanged (`kubetwin.io/load-balancing` on
//! Services, `kubetwin.io/price-per-hour` and `kubetwin.io/location` on Nodes, the HPA rule
//! annotations).

use std::path::Path;

use crate::fit::Distribution;
use crate::model::dist::DistSpec;

/// Processing time of one request, in milliseconds.
pub const SERVICE_TIME: &str = "kubetwin.io/service-time-ms";
/// Worker threads per pod (the `n` of G/G/n).
pub const WORKERS: &str = "kubetwin.io/workers";
/// Requests that may wait per pod; more are rejected.
pub const QUEUE_CAPACITY: &str = "kubetwin.io/queue-capacity";
/// The Services each request calls after processing, in order.
pub const CALLS: &str = "kubetwin.io/calls";
/// Time from binding to a running container (image pull), in milliseconds.
pub const STARTUP: &str = "kubetwin.io/startup-ms";
/// Requests per second users send to a Service.
pub const ENTRY_RATE: &str = "kubetwin.io/entry-rate";
/// One-way latencies from a Node's location to other locations, in milliseconds.
pub const LATENCY: &str = "kubetwin.io/latency-ms";

/// The annotations read on Deployments and StatefulSets.
pub const WORKLOAD_ANNOTATIONS: [&str; 5] = [SERVICE_TIME, WORKERS, QUEUE_CAPACITY, CALLS, STARTUP];

/// The field path of annotation `key`, as messages name it.
pub fn field(key: &str) -> String {
    format!("metadata.annotations[{key}]")
}

/// A time in milliseconds: a number is a constant, anything else a distribution in the
/// scenario's notation (YAML flow style), checked as the engine will check it.
///
/// # Errors
/// A message saying what is wrong with the value.
pub fn time_ms(value: &str) -> Result<DistSpec, String> {
    let spec = match value.trim().parse::<f64>() {
        Ok(ms) => DistSpec::Constant { value: ms },
        Err(_) => serde_saphyr::from_str::<DistSpec>(value).map_err(|e| {
            format!(
                "{value:?} is neither a number of milliseconds nor a distribution \
                 such as {{type: exponential, mean: 12}}: {}",
                e.without_snippet()
            )
        })?,
    };
    match Distribution::from_spec(&spec, Path::new(".")) {
        Ok(_) if matches!(spec, DistSpec::Constant { value } if value < 0.0) => {
            Err(format!("{value:?} is negative"))
        }
        Ok(_) => Ok(spec),
        Err(e) => Err(format!("{value:?}: {}", e.message())),
    }
}

/// An integer `>= min`.
///
/// # Errors
/// When the value is not such an integer.
pub fn count(value: &str, min: u32) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!("{value:?} is not an integer >= {min}")),
    }
}

/// A number `> 0` (a rate).
///
/// # Errors
/// When the value is not a positive number.
pub fn positive(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{value:?} is not a number > 0")),
    }
}

/// `cart, currency:0.5`: Service names, each with an optional probability in `[0, 1]`.
///
/// # Errors
/// When an item is empty or its probability is not in `[0, 1]`.
pub fn calls(value: &str) -> Result<Vec<(String, Option<f64>)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once(':') {
            None => Ok((item.to_owned(), None)),
            Some((service, p)) => match p.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) && !service.trim().is_empty() => {
                    Ok((service.trim().to_owned(), Some(p)))
                }
                _ => Err(format!(
                    "{item:?} is not SERVICE or SERVICE:PROBABILITY with a probability in [0, 1]"
                )),
            },
        })
        .collect()
}

/// `users=18, eu-west-1b=0.9`: one-way latencies in milliseconds to other locations.
///
/// # Errors
/// When an item is not `LOCATION=MILLISECONDS` with a number `>= 0`.
pub fn latencies(value: &str) -> Result<Vec<(String, f64)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let parsed = item.split_once('=').and_then(|(location, ms)| {
                let ms = ms.trim().parse::<f64>().ok()?;
                let location = location.trim();
                (ms.is_finite() && ms >= 0.0 && !location.is_empty())
                    .then(|| (location.to_owned(), ms))
            });
            parsed.ok_or_else(|| format!("{item:?} is not LOCATION=MILLISECONDS (a number >= 0)"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_constants_or_distributions() {
        assert_eq!(time_ms("12.5"), Ok(DistSpec::Constant { value: 12.5 }));
        assert_eq!(
            time_ms("{type: exponential, mean: 4}"),
            Ok(DistSpec::Exponential { mean: 4.0 })
        );
        for bad in [
            "-1",
            "fast",
            "{type: exponential, mean: -4}",
            "{type: nope}",
        ] {
            assert!(time_ms(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn counts_rates_calls_and_latencies() {
        assert_eq!(count(" 4 ", 1), Ok(4));
        assert!(count("0", 1).is_err() && count("-2", 0).is_err() && count("x", 0).is_err());
        assert_eq!(positive("2.5"), Ok(2.5));
        assert!(positive("0").is_err() && positive("inf").is_err());
        assert_eq!(
            calls("cart, currency:0.5,"),
            Ok(vec![("cart".into(), None), ("currency".into(), Some(0.5))])
        );
        assert!(calls("cart:1.5").unwrap_err().contains("cart:1.5"));
        assert!(calls(":0.5").is_err());
        assert_eq!(
            latencies("users=18, b=0.9"),
            Ok(vec![("users".into(), 18.0), ("b".into(), 0.9)])
        );
        assert!(latencies("users").is_err() && latencies("users=-1").is_err());
    }
}
