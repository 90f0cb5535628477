//! Engine throughput on the reference chain (MS1 -> MS2, 20 replicas each, ~85% busy).
//! `kubetwin bench` reports the same workload with wall time and peak memory; this is the
//! statistically careful version for comparing changes (`cargo bench`).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kubetwin::model::{self, Override};
use kubetwin::sim::{self, BuildOptions};

const REQUESTS: u64 = 200_000;

fn reference_chain(c: &mut Criterion) {
    // 20 replicas; MS1 holds its worker ~15 ms per request (its own 4.8 ms plus MS2's
    // 9.2 ms and two intra-cluster hops), so 1,150 requests/s keeps it ~85% busy.
    let overrides: Vec<Override> = [
        "deployment:spec.replicas=20",
        "workload:spec.flows[0].arrivals={type: poisson, rate: 1150}",
    ]
    .iter()
    .map(|o| o.parse().expect("valid override"))
    .collect();
    let scenario = model::load(
        Path::new("examples/edge-image-recognition/scenario.yaml"),
        &overrides,
    )
    .expect("bundled scenario loads");
    let world = sim::build(
        &scenario,
        BuildOptions {
            seed: None,
            requests: Some(REQUESTS),
        },
    )
    .expect("bundled scenario is valid");
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(REQUESTS));
    group.sample_size(10);
    group.bench_function("reference_chain_200k_requests", |b| {
        b.iter(|| sim::run(&world, &mut |_| {}))
    });
    group.finish();
}

criterion_group!(benches, reference_chain);
criterion_main!(benches);
