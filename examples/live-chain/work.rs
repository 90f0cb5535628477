//! The busy mode's CPU work: a fixed integer loop, so that a service time is an amount of
//! *work* (it takes longer when replicas compete for the cores), and its calibration.

use std::time::Duration;

use crate::clock;

/// Runs `iterations` rounds of a xorshift64 step. Every round depends on the previous one
/// and the result goes through `black_box`, so the compiler can neither skip nor batch them.
pub fn spin(iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x)
}

/// Iterations per run of the first, rough measurement.
const PROBE: u64 = 100_000;
/// How long each calibration run should take: short, so that some run is likely to go
/// unpreempted on a busy machine.
const RUN: Duration = Duration::from_millis(2);
/// Calibration runs; the fastest is kept.
const RUNS: usize = 101;

/// Iterations of [`spin`] per millisecond of an uncontended core, in this build profile (a
/// debug build is several times slower than a release one): the fastest of [`RUNS`] runs
/// of about 2 ms each, after a rough probe that sizes them. The fastest, not the median:
/// a run that other processes preempt measures their share of the core too, and busy
/// work calibrated that way would shrink whenever the machine is quieter.
pub fn calibrate() -> f64 {
    let rate = |iterations: u64| {
        let start = clock::now();
        spin(iterations);
        iterations as f64 / (start.elapsed().as_secs_f64() * 1e3).max(1e-6)
    };
    let per_run = (rate(PROBE) * RUN.as_secs_f64() * 1e3).max(1.0) as u64;
    (0..RUNS).map(|_| rate(per_run)).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_is_a_pure_function_of_its_count() {
        assert_eq!(spin(0), 0x9E37_79B9_7F4A_7C15);
        assert_eq!(spin(1000), spin(1000));
        assert_ne!(spin(1000), spin(1001));
    }
}
