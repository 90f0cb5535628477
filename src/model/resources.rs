//! Compute resources (CPU and memory) and the scheduler's configuration.
//!
//! [`Resources`] is the unit of account for pod requests, node capacity and node
//! allocation: CPU in **millicores** (`1000` = one core, Kubernetes' `1`), memory in
//! **bytes**. [`SchedulerSpec`] is the serde-facing scheduler policy of a scenario; the
//! engine validates it into a [`crate::sim::scheduler::Scheduler`].

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An amount of CPU and memory: a pod's requests, a node's capacity or allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resources {
    /// CPU in millicores (`250` is Kubernetes' `250m`, `1000` is `1`).
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

impl Resources {
    /// No CPU and no memory.
    pub const ZERO: Resources = Resources {
        cpu_millis: 0,
        memory_bytes: 0,
    };

    /// `cpu_millis` millicores and `memory_bytes` bytes.
    pub const fn new(cpu_millis: u64, memory_bytes: u64) -> Self {
        Resources {
            cpu_millis,
            memory_bytes,
        }
    }

    /// Whether `self` fits in `other`: neither CPU nor memory exceeds it.
    ///
    /// `requests.fits(&free)` is the NodeResourcesFit test; a zero request always fits.
    pub const fn fits(&self, other: &Resources) -> bool {
        self.cpu_millis <= other.cpu_millis && self.memory_bytes <= other.memory_bytes
    }

    /// Component-wise `self + other`, clamped at `u64::MAX`.
    pub const fn saturating_add(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
        }
    }

    /// Component-wise `self - other`, clamped at zero (the free part of a node whose
    /// allocation may exceed its capacity).
    pub const fn saturating_sub(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
        }
    }

    /// Component-wise `self + other`, or `None` if either component overflows.
    pub const fn checked_add(self, other: Resources) -> Option<Resources> {
        match (
            self.cpu_millis.checked_add(other.cpu_millis),
            self.memory_bytes.checked_add(other.memory_bytes),
        ) {
            (Some(cpu_millis), Some(memory_bytes)) => {
                Some(Resources::new(cpu_millis, memory_bytes))
            }
            _ => None,
        }
    }

    /// Component-wise `self - other`, or `None` if either component would go below zero.
    pub const fn checked_sub(self, other: Resources) -> Option<Resources> {
        match (
            self.cpu_millis.checked_sub(other.cpu_millis),
            self.memory_bytes.checked_sub(other.memory_bytes),
        ) {
            (Some(cpu_millis), Some(memory_bytes)) => {
                Some(Resources::new(cpu_millis, memory_bytes))
            }
            _ => None,
        }
    }

    /// Component-wise maximum (how Kubernetes combines init containers' requests).
    pub fn max(self, other: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.max(other.cpu_millis),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
        }
    }

    /// Whether both components are zero.
    pub const fn is_zero(&self) -> bool {
        self.cpu_millis == 0 && self.memory_bytes == 0
    }
}

/// Component-wise sum.
///
/// # Panics
///
/// On overflow in debug builds, like integer `+`; use [`Resources::checked_add`] or
/// [`Resources::saturating_add`] where overflow is possible.
impl Add for Resources {
    type Output = Resources;
    fn add(self, other: Resources) -> Resources {
        Resources::new(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
        )
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, other: Resources) {
        *self = *self + other;
    }
}

/// Component-wise difference.
///
/// # Panics
///
/// When a component would go below zero, in debug builds, like integer `-`; use
/// [`Resources::checked_sub`] or [`Resources::saturating_sub`] where that is possible.
impl Sub for Resources {
    type Output = Resources;
    fn sub(self, other: Resources) -> Resources {
        Resources::new(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
        )
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, other: Resources) {
        *self = *self - other;
    }
}

/// `cpu=250m memory=134217728` (CPU in millicores, memory in bytes).
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu={}m memory={}", self.cpu_millis, self.memory_bytes)
    }
}

/// Scheduler configuration: the score plugins with their weights, and how many nodes to
/// score.
///
/// Filters are always on, as in the default kube-scheduler profile: NodeUnschedulable,
/// TaintToleration, NodeAffinity, NodeResourcesFit and PodTopologySpread. When `score` is
/// omitted the scheduler uses kube-scheduler's default weights for the plugins kubetwin
/// models: `LeastAllocated` 1, `BalancedAllocation` 1, `NodeAffinity` 2,
/// `PodTopologySpread` 2, `TaintToleration` 3.
///
/// ```yaml
/// scheduler:
///   score:                 # "MEC first": lowest tier wins, spread within a tier
///     - {name: TierPriority, weight: 100}
///     - {name: LeastAllocated}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerSpec {
    /// Score plugins with their weights. A node's final score is the sum over plugins of
    /// `weight * score`, each plugin scoring in `0..=100`; the highest total wins and ties
    /// are broken uniformly at random. Known plugins: `LeastAllocated`, `MostAllocated`,
    /// `BalancedAllocation`, `NodeAffinity`, `TaintToleration`, `PodTopologySpread`,
    /// `LowestPrice`, `TierPriority`; each may appear once. Default: `LeastAllocated` (1),
    /// `BalancedAllocation` (1), `NodeAffinity` (2), `PodTopologySpread` (2),
    /// `TaintToleration` (3), as in kube-scheduler's default profile. With an empty list
    /// nothing is scored and, as kube-scheduler does, the first feasible node found wins.
    #[serde(default = "default_score_plugins")]
    pub score: Vec<ScorePluginSpec>,
    /// kube-scheduler's `percentageOfNodesToScore`, in percent (`0..=100`): once this
    /// share of the nodes (at least 100 nodes, or all of them in a smaller cluster) is
    /// found feasible, the scheduler stops filtering and scores only those, continuing
    /// round-robin from where the previous pod stopped. Omitted or `0`: kube-scheduler's
    /// adaptive default, `50 - nodes/125` percent but at least 5 (50% of 100 nodes, 10% of
    /// 5,000). `100` scores every feasible node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Default for SchedulerSpec {
    fn default() -> Self {
        SchedulerSpec {
            score: default_score_plugins(),
            percentage_of_nodes_to_score: None,
        }
    }
}

/// One enabled score plugin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScorePluginSpec {
    /// Plugin name, e.g. `LeastAllocated` or `TierPriority` (case-sensitive).
    pub name: String,
    /// Multiplier of this plugin's `0..=100` score in the node's total; `>= 1`,
    /// default `1`.
    #[serde(default = "one")]
    pub weight: u32,
}

impl ScorePluginSpec {
    /// Plugin `name` with `weight`.
    pub fn new(name: impl Into<String>, weight: u32) -> Self {
        ScorePluginSpec {
            name: name.into(),
            weight,
        }
    }
}

fn one() -> u32 {
    1
}

fn default_score_plugins() -> Vec<ScorePluginSpec> {
    vec![
        ScorePluginSpec::new("LeastAllocated", 1),
        ScorePluginSpec::new("BalancedAllocation", 1),
        ScorePluginSpec::new("NodeAffinity", 2),
        ScorePluginSpec::new("PodTopologySpread", 2),
        ScorePluginSpec::new("TaintToleration", 3),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1 << 20;

    #[test]
    fn arithmetic_is_component_wise() {
        let a = Resources::new(500, 256 * MI);
        let b = Resources::new(250, 512 * MI);
        assert_eq!(a + b, Resources::new(750, 768 * MI));
        assert_eq!((a + b) - b, a);
        let mut c = a;
        c += b;
        c -= a;
        assert_eq!(c, b);
        assert_eq!(a.max(b), Resources::new(500, 512 * MI));
        assert_eq!(a.saturating_sub(b), Resources::new(250, 0));
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(
            b.checked_sub(Resources::new(250, MI)),
            Some(Resources::new(0, 511 * MI))
        );
        let big = Resources::new(u64::MAX, 1);
        assert_eq!(big.checked_add(a), None);
        assert_eq!(
            big.saturating_add(a),
            Resources::new(u64::MAX, 256 * MI + 1)
        );
        assert!(Resources::ZERO.is_zero() && !a.is_zero());
    }

    #[test]
    fn fits_needs_both_components() {
        let free = Resources::new(1000, 1024 * MI);
        assert!(Resources::new(1000, 1024 * MI).fits(&free));
        assert!(Resources::ZERO.fits(&Resources::ZERO));
        assert!(!Resources::new(1001, 0).fits(&free));
        assert!(!Resources::new(0, 1024 * MI + 1).fits(&free));
    }

    #[test]
    fn display_names_units() {
        assert_eq!(
            Resources::new(250, 1024).to_string(),
            "cpu=250m memory=1024"
        );
    }

    #[test]
    fn scheduler_spec_defaults_and_weights() {
        let spec: SchedulerSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, SchedulerSpec::default());
        let names: Vec<_> = spec
            .score
            .iter()
            .map(|p| (p.name.as_str(), p.weight))
            .collect();
        assert_eq!(
            names,
            [
                ("LeastAllocated", 1),
                ("BalancedAllocation", 1),
                ("NodeAffinity", 2),
                ("PodTopologySpread", 2),
                ("TaintToleration", 3)
            ]
        );
        assert_eq!(spec.percentage_of_nodes_to_score, None);
        let spec: SchedulerSpec =
            serde_json::from_str(r#"{"percentageOfNodesToScore":30}"#).unwrap();
        assert_eq!(spec.percentage_of_nodes_to_score, Some(30));
        let spec: SchedulerSpec = serde_json::from_str(
            r#"{"score":[{"name":"TierPriority","weight":100},{"name":"LeastAllocated"}]}"#,
        )
        .unwrap();
        assert_eq!(
            spec.score,
            [
                ScorePluginSpec::new("TierPriority", 100),
                ScorePluginSpec::new("LeastAllocated", 1)
            ]
        );
        let empty: SchedulerSpec = serde_json::from_str(r#"{"score":[]}"#).unwrap();
        assert!(empty.score.is_empty());
    }

    #[test]
    fn schema_carries_the_field_docs() {
        let schema = serde_json::to_string(&schemars::schema_for!(SchedulerSpec)).unwrap();
        assert!(schema.contains("Multiplier of this plugin"), "{schema}");
        assert!(
            schema.contains("\"additionalProperties\":false"),
            "{schema}"
        );
    }

    #[test]
    fn scheduler_spec_rejects_unknown_fields() {
        let err = serde_json::from_str::<SchedulerSpec>(r#"{"filters":[]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `filters`"), "{err}");
        let err = serde_json::from_str::<SchedulerSpec>(r#"{"score":[{"name":"X","wieght":2}]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `wieght`"), "{err}");
    }
}
