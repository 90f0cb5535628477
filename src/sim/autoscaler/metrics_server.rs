//! What the HPA reads as a pod's CPU use: metrics-server's rate over the pod's cumulative
//! CPU counter between its last two scrapes (`pkg/storage/pod.go` in metrics-server), not
//! the exact mean of the HPA's sync period.
//!
//! The kubelet exposes each container's cumulative CPU time; metrics-server scrapes it every
//! `--metric-resolution` and serves, for each pod, `(used(last) - used(prev)) / (last -
//! prev)` with `timestamp = last` and `window = last - prev`. So at a sync the HPA sees the
//! average over a window that ended up to one resolution earlier: a step change in load
//! reaches it after a lag, and in full only once a whole window lies after the step.
//!
//! The twin scrapes at `offset + k × resolution` for every integer `k` (the scrape at a
//! sync's instant counts as done before the sync), and reads the counter exactly at those
//! times (the kubelet's own housekeeping interval is not modelled). A container's first
//! scrape has no rate unless it comes at least 10 s and less than one resolution after the
//! container started, in which case the start, with nothing used, is its previous point
//! (`freshContainerMinMetricsResolution`). Pods that run at time zero start then, like the
//! rest of the run: with the defaults, their first rate is the one of the scrape at 22.5 s.

use super::observation::PodMetric;
use crate::sim::time::SimTime;

/// metrics-server's `--metric-resolution` in the official manifests and Helm chart: 15 s
/// (the binary's own default is 60 s).
pub const DEFAULT_METRIC_RESOLUTION: SimTime = SimTime(15_000_000_000);

/// The youngest a container may be at its first scrape for that scrape to yield a rate
/// (`freshContainerMinMetricsResolution`).
const FRESH_CONTAINER_MIN_AGE: i128 = 10_000_000_000;

/// When metrics-server scrapes: every `resolution`, at `offset + k × resolution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsServer {
    resolution: SimTime,
    offset: SimTime,
}

impl Default for MetricsServer {
    /// A 15 s resolution, scraping half-way between two multiples of it: with the HPA's
    /// default 15 s sync period, the data a sync reads ended 7.5 s before it, the expected
    /// lag of two loops that do not run in step.
    fn default() -> Self {
        Self {
            resolution: DEFAULT_METRIC_RESOLUTION,
            offset: SimTime(DEFAULT_METRIC_RESOLUTION.0 / 2),
        }
    }
}

impl MetricsServer {
    /// Scrapes every `resolution` at `offset + k × resolution`, or `None` unless
    /// `0 < resolution` and `offset < resolution`.
    pub fn new(resolution: SimTime, offset: SimTime) -> Option<Self> {
        (resolution > SimTime::ZERO && offset < resolution).then_some(Self { resolution, offset })
    }

    /// `--metric-resolution`.
    pub fn resolution(self) -> SimTime {
        self.resolution
    }

    /// When, within each resolution, the scrapes happen.
    pub fn offset(self) -> SimTime {
        self.offset
    }

    /// The time of scrape `k`, in nanoseconds (negative before the run).
    fn at(self, k: i64) -> i128 {
        i128::from(self.offset.0) + i128::from(k) * i128::from(self.resolution.0)
    }

    /// The index of the last scrape at or before `t` (nanoseconds).
    fn last_before(self, t: i128) -> i64 {
        let k = (t - i128::from(self.offset.0)).div_euclid(i128::from(self.resolution.0));
        i64::try_from(k).unwrap_or(i64::MAX)
    }
}

/// A point of the cumulative counter: when, and millicore-nanoseconds used until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    at: i128,
    used: u128,
}

/// One pod's CPU: the kubelet's cumulative counter, fed by the engine with the pod's usage
/// level whenever it changes, and the last two points metrics-server scraped from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuMeter {
    /// Current use, in millicores.
    level: u64,
    /// Millicore-nanoseconds used until `since`.
    used: u128,
    since: SimTime,
    /// When the container started; `None` before it has.
    start: Option<i128>,
    /// The last scrape's index, and its point and the one before (the previous scrape, or
    /// the container's start for a fresh container).
    last: Option<(i64, Point)>,
    prev: Option<Point>,
}

impl CpuMeter {
    /// The container starts at `now`, with nothing used and nothing scraped.
    pub fn start(&mut self, now: SimTime) {
        *self = CpuMeter {
            since: now,
            start: Some(i128::from(now.0)),
            ..CpuMeter::default()
        };
    }

    /// The container's use becomes `millicores` at `now` (not earlier than the last call).
    pub fn set_level(&mut self, now: SimTime, millicores: u64, server: MetricsServer) {
        self.scrape_until(now, server);
        self.used += u128::from(self.level) * u128::from((now - self.since).0);
        self.since = now;
        self.level = millicores;
    }

    /// Millicore-nanoseconds used from the start until `now`.
    pub fn used(&self, now: SimTime) -> u128 {
        self.used + u128::from(self.level) * u128::from((now - self.since).0)
    }

    /// What metrics-server serves for the pod at `now`: the mean use in millicores between
    /// its last two points, stamped with the last one's time; `None` while it has fewer
    /// than two (a *missing* metric to the HPA).
    pub fn sample(&mut self, now: SimTime, server: MetricsServer) -> Option<PodMetric> {
        self.scrape_until(now, server);
        let (prev, (_, last)) = (self.prev?, self.last?);
        let window = last.at - prev.at;
        Some(PodMetric {
            value: (last.used - prev.used) as f64 / window as f64,
            // Before the run only if no scrape has happened since time zero.
            timestamp: SimTime(u64::try_from(last.at.max(0)).unwrap_or(u64::MAX)),
            window: SimTime(u64::try_from(window).unwrap_or(u64::MAX)),
        })
    }

    /// Takes the scrapes due by `now`. Every scrape not yet taken lies after `since` (each
    /// level change takes the scrapes due by then first), so the counter at it is the
    /// current level's extrapolation.
    fn scrape_until(&mut self, now: SimTime, server: MetricsServer) {
        let Some(start) = self.start else {
            return;
        };
        let newest = server.last_before(i128::from(now.0));
        let first = match self.last {
            Some((k, _)) => k + 1,
            None => server.last_before(start - 1) + 1,
        };
        if newest < first {
            return;
        }
        let point = |k: i64| {
            let at = server.at(k);
            let since = i128::from(self.since.0);
            let elapsed = u128::try_from(at - since).unwrap_or(0);
            Point {
                at,
                used: self.used + u128::from(self.level) * elapsed,
            }
        };
        self.prev = if newest > first {
            Some(point(newest - 1))
        } else if let Some((_, last)) = self.last {
            Some(last)
        } else {
            // The container's first scrape: a rate only for a fresh container.
            let age = server.at(newest) - start;
            (FRESH_CONTAINER_MIN_AGE..i128::from(server.resolution.0))
                .contains(&age)
                .then_some(Point { at: start, used: 0 })
        };
        self.last = Some((newest, point(newest)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seconds: f64) -> SimTime {
        SimTime::from_secs(seconds)
    }

    fn server(resolution: f64, offset: f64) -> MetricsServer {
        MetricsServer::new(s(resolution), s(offset)).unwrap()
    }

    #[test]
    fn settings_need_a_positive_resolution_and_an_offset_within_it() {
        assert_eq!(MetricsServer::new(SimTime::ZERO, SimTime::ZERO), None);
        assert_eq!(MetricsServer::new(s(15.0), s(15.0)), None);
        let d = MetricsServer::default();
        assert_eq!((d.resolution(), d.offset()), (s(15.0), s(7.5)));
    }

    /// A pod started at 0 s, idle, steps to 1000 m at 25 s. Scrapes at 7.5 (the container
    /// is 7.5 s old: no rate), 22.5, 37.5, 52.5: a sync at 30 s reads [7.5, 22.5] (none of
    /// the step), one at 45 s [22.5, 37.5] (12.5 s of it: 1000 × 12.5/15 = 833.3 m), one at
    /// 60 s [37.5, 52.5] (all of it). The step shows after the next scrape, in full one
    /// resolution later: here 12.5 s, then 27.5 s after it.
    #[test]
    fn a_step_reaches_the_hpa_after_the_next_scrape_in_full_one_resolution_later() {
        let ms = MetricsServer::default();
        let mut cpu = CpuMeter::default();
        cpu.start(SimTime::ZERO);
        assert_eq!(
            cpu.sample(s(15.0), ms),
            None,
            "one scrape, too young for a rate"
        );
        cpu.set_level(s(25.0), 1000, ms);
        let at_30 = cpu.sample(s(30.0), ms).unwrap();
        assert_eq!(
            (at_30.value, at_30.timestamp, at_30.window),
            (0.0, s(22.5), s(15.0))
        );
        assert_eq!(
            cpu.sample(s(37.0), ms),
            Some(at_30),
            "no scrape since the step yet"
        );
        let at_45 = cpu.sample(s(45.0), ms).unwrap();
        assert!(
            (at_45.value - 1000.0 * 12.5 / 15.0).abs() < 1e-9,
            "{at_45:?}"
        );
        assert_eq!(at_45.timestamp, s(37.5));
        let at_60 = cpu.sample(s(60.0), ms).unwrap();
        assert_eq!((at_60.value, at_60.timestamp), (1000.0, s(52.5)));
        assert_eq!(cpu.used(s(60.0)), 1000 * 35_000_000_000);
    }

    #[test]
    fn reading_between_scrapes_or_skipping_several_gives_the_same_points() {
        let ms = server(10.0, 0.0);
        let mut once = CpuMeter::default();
        once.start(SimTime::ZERO);
        let mut often = once;
        let changes = [(3.0, 500), (17.0, 2000), (41.0, 0), (55.0, 0)];
        for pair in changes.windows(2) {
            let ((t, level), (next, _)) = (pair[0], pair[1]);
            once.set_level(s(t), level, ms);
            often.set_level(s(t), level, ms);
            let mut read = t;
            while read < next {
                often.sample(s(read), ms);
                read += 0.5;
            }
        }
        // [50, 60] is idle, [40, 50] holds 1 s at 2000 m.
        let (a, b) = (once.sample(s(55.0), ms), often.sample(s(55.0), ms));
        assert_eq!(a, b);
        assert_eq!(a.unwrap().value, 200.0);
    }

    #[test]
    fn a_new_container_gets_a_rate_at_its_first_scrape_only_if_it_is_10_s_old() {
        let ms = MetricsServer::default();
        // Started at 10 s: the scrape at 22.5 s is 12.5 s after the start (>= 10 s, < 15 s),
        // so the start is its previous point.
        let mut fresh = CpuMeter::default();
        fresh.start(s(10.0));
        fresh.set_level(s(12.5), 600, ms);
        let m = fresh.sample(s(23.0), ms).unwrap();
        assert_eq!((m.timestamp, m.window), (s(22.5), s(12.5)));
        assert!((m.value - 600.0 * 10.0 / 12.5).abs() < 1e-9);
        // Started at 14 s: 8.5 s old at 22.5 s, no rate until the scrape at 37.5 s.
        let mut young = CpuMeter::default();
        young.start(s(14.0));
        assert_eq!(young.sample(s(30.0), ms), None);
        assert_eq!(young.sample(s(37.5), ms).unwrap().window, s(15.0));
        assert_eq!(
            CpuMeter::default().sample(s(100.0), ms),
            None,
            "never started"
        );
    }
}
