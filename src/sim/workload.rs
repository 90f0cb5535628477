//! Arrival generators: each flow draws its own inter-arrival times from its own stream, so
//! a flow's arrivals do not depend on anything else in the simulation. That lets
//! [`last_arrival`] replay the arrivals alone to find where the cool-down starts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand_distr::{Distribution as _, Exp1};

use super::rng::{Rng, stream};
use super::time::SimTime;
use super::world::{FlowDef, Process, Settings};

/// The state of one flow: its next arrival.
#[derive(Clone, Debug)]
pub struct FlowState {
    rng: Rng,
    emitted: u64,
    /// The next arrival, or `None` when the flow has ended.
    pub next: Option<SimTime>,
}

impl FlowState {
    /// A flow positioned at its first arrival.
    pub fn new(seed: u64, def: &FlowDef) -> Self {
        let mut state = FlowState {
            rng: stream(seed, &format!("flow/{}", def.name)),
            emitted: 0,
            next: None,
        };
        state.next = state.draw(def, def.start, true);
        state
    }

    /// Consumes the current arrival and positions the flow at the following one.
    #[inline]
    pub fn advance(&mut self, def: &FlowDef) {
        self.emitted += 1;
        self.next = self.next.and_then(|t| self.draw(def, t, false));
    }

    fn draw(&mut self, def: &FlowDef, after: SimTime, first: bool) -> Option<SimTime> {
        if def.requests.is_some_and(|n| self.emitted >= n) {
            return None;
        }
        let next = match &def.process {
            Process::Poisson(mean_ms) => {
                let x: f64 = Exp1.sample(&mut self.rng);
                after + SimTime::from_millis(x * mean_ms)
            }
            Process::Constant(_) if first => after,
            Process::Constant(gap) => after + *gap,
            Process::Renewal(d) => after + SimTime::from_millis(d.sample(&mut self.rng)),
            Process::Trace(times) => def.start + *times.get(self.emitted as usize)?,
        };
        def.end.is_none_or(|end| next < end).then_some(next)
    }
}

/// The time of the last admitted arrival, replaying every flow's arrivals in time order
/// under the run's stop conditions (at most `stop_requests`, none after `stop_time`).
pub fn last_arrival(flows: &[FlowDef], settings: &Settings, seed: u64) -> Option<SimTime> {
    let mut states: Vec<FlowState> = flows.iter().map(|f| FlowState::new(seed, f)).collect();
    let mut heap: BinaryHeap<Reverse<(SimTime, usize)>> = states
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.next.map(|t| Reverse((t, i))))
        .collect();
    let horizon = settings.stop_time.unwrap_or(SimTime::NEVER);
    let mut admitted = 0u64;
    let mut last = None;
    while let Some(Reverse((t, i))) = heap.pop() {
        if t > horizon || settings.stop_requests.is_some_and(|n| admitted >= n) {
            break;
        }
        admitted += 1;
        last = Some(t);
        states[i].advance(&flows[i]);
        if let Some(next) = states[i].next {
            heap.push(Reverse((next, i)));
        }
    }
    last
}
