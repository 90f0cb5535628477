//! What a replica change costs the scheduler as the cluster grows: one pod deleted and
//! its replacement placed (a full scheduling cycle under the default profile, then the
//! bind), on clusters of 1,000 to 50,000 nodes in three zones whose CPU is 98%
//! requested by 30 Deployments, so that most nodes cannot host the replacement.
//! `kubetwin bench --scale` times whole placements and runs; this isolates one pod.

use std::collections::BTreeMap;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kubetwin::model::resources::{Resources, SchedulerSpec};
use kubetwin::sim::scheduler::{HOSTNAME_KEY, NodeView, PodView, Scheduler, ZONE_KEY};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

const DEPLOYMENTS: usize = 30;
const PODS_PER_NODE: usize = 30;

fn replacement(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler");
    group.sample_size(20);
    for nodes in [1_000, 5_000, 20_000, 50_000] {
        let labels: Vec<BTreeMap<String, String>> = (0..nodes)
            .map(|i| {
                BTreeMap::from([
                    (ZONE_KEY.to_owned(), format!("zone-{}", i % 3)),
                    (HOSTNAME_KEY.to_owned(), format!("node-{i}")),
                ])
            })
            .collect();
        let views = labels
            .iter()
            .map(|labels| NodeView {
                name: &labels[HOSTNAME_KEY],
                labels,
                taints: &[],
                // Requests average 245m: 30 pods take 7.35 of 7.5 cores.
                capacity: Resources {
                    cpu_millis: 7_500,
                    memory_bytes: 64 << 30,
                },
                allocated: Resources::ZERO,
                price_per_hour: 0.0,
                tier: 0,
                unschedulable: false,
            })
            .collect();
        let pod_labels: Vec<BTreeMap<String, String>> = (0..DEPLOYMENTS)
            .map(|d| BTreeMap::from([("app".to_owned(), format!("d{d}"))]))
            .collect();
        let templates = (0..DEPLOYMENTS)
            .map(|d| PodView {
                requests: Resources {
                    cpu_millis: 100 + 10 * d as u64,
                    memory_bytes: 128 << 20,
                },
                node_selector: None,
                affinity: None,
                tolerations: &[],
                labels: &pod_labels[d],
                namespace: "default",
                spread_constraints: &[],
            })
            .collect();
        let mut scheduler = Scheduler::new(&SchedulerSpec::default())
            .expect("the default profile is valid")
            .with_cluster(views, templates);
        let mut rng = Pcg64::seed_from_u64(1);
        let mut bound: Vec<(usize, usize)> = Vec::with_capacity(nodes * PODS_PER_NODE);
        for t in 0..DEPLOYMENTS {
            for _ in 0..nodes * PODS_PER_NODE / DEPLOYMENTS {
                let n = (scheduler.schedule(t, &mut rng)).expect("the cluster has room");
                scheduler.bind(t, n);
                bound.push((t, n));
            }
        }
        group.bench_function(BenchmarkId::new("replace_one_pod_98pct_full", nodes), |b| {
            b.iter(|| {
                let k = rng.random_range(0..bound.len());
                let (t, n) = bound[k];
                scheduler.release(t, n, false);
                let n = (scheduler.schedule(t, &mut rng)).expect("the freed room is there");
                scheduler.bind(t, n);
                bound[k] = (t, n);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, replacement);
criterion_main!(benches);
