//! The wall clock. kubetwin's engine never reads one (clippy.toml bans `Instant::now` and
//! `SystemTime::now`), but a live application's latencies *are* wall time: this module is
//! the one place the example reads it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The monotonic clock, for durations.
#[allow(clippy::disallowed_methods)] // A live measurement; see the module doc.
pub fn now() -> Instant {
    Instant::now()
}

/// Seconds since the Unix epoch, for Prometheus' time axis.
#[allow(clippy::disallowed_methods)] // A live measurement; see the module doc.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
