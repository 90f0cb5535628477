//! Load-balancing decisions: which endpoint of a Service receives a call. Pure functions
//! over the endpoint list; the engine supplies each endpoint's load or distance.

use rand::RngExt;

use super::rng::Rng;
use super::world::LbPolicy;

/// Picks an index into `endpoints` (which must not be empty).
///
/// `cursor` is the Service's round-robin position; `cost(endpoint)` is the quantity to
/// minimise for `LeastOutstanding` (requests in flight) and `LatencyAware` (mean latency
/// from the caller). Ties of the minimising policies are broken uniformly at random.
#[inline]
pub fn pick(
    policy: LbPolicy,
    endpoints: &[u32],
    cursor: &mut usize,
    rng: &mut Rng,
    cost: impl Fn(u32) -> f64,
) -> u32 {
    debug_assert!(!endpoints.is_empty());
    match policy {
        LbPolicy::Random => endpoints[rng.random_range(0..endpoints.len())],
        LbPolicy::RoundRobin => {
            let chosen = endpoints[*cursor % endpoints.len()];
            *cursor = cursor.wrapping_add(1);
            chosen
        }
        LbPolicy::LeastOutstanding | LbPolicy::LatencyAware => {
            let mut best = endpoints[0];
            let mut best_cost = cost(best);
            let mut ties = 1u32;
            for &e in &endpoints[1..] {
                let c = cost(e);
                if c < best_cost {
                    (best, best_cost, ties) = (e, c, 1);
                } else if c == best_cost {
                    ties += 1;
                    if rng.random_range(0..ties) == 0 {
                        best = e;
                    }
                }
            }
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::stream;

    fn counts(policy: LbPolicy, n: usize, cost: impl Fn(u32) -> f64) -> Vec<u32> {
        let endpoints: Vec<u32> = (10..10 + n as u32).collect();
        let (mut cursor, mut rng) = (0, stream(1, "lb"));
        let mut counts = vec![0; n];
        for _ in 0..30_000 {
            counts[(pick(policy, &endpoints, &mut cursor, &mut rng, &cost) - 10) as usize] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_cycles_exactly() {
        assert_eq!(counts(LbPolicy::RoundRobin, 3, |_| 0.0), [10_000; 3]);
    }

    #[test]
    fn random_is_uniform() {
        // 10,000 expected each; binomial sd ~ 82, so 5 sd is 410.
        for c in counts(LbPolicy::Random, 3, |_| 0.0) {
            assert!((c as i64 - 10_000).abs() < 410, "{c}");
        }
    }

    #[test]
    fn minimising_policies_choose_the_minimum_and_split_ties_evenly() {
        let c = counts(LbPolicy::LeastOutstanding, 4, |e| {
            if e == 12 { 0.0 } else { 1.0 }
        });
        assert_eq!(c, [0, 0, 30_000, 0]);
        let c = counts(
            LbPolicy::LatencyAware,
            4,
            |e| if e < 12 { 5.0 } else { 9.0 },
        );
        assert_eq!(c[2] + c[3], 0);
        assert!((c[0] as i64 - 15_000).abs() < 500, "{c:?}");
    }
}
