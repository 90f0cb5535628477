//! `kubetwin bench`: the engine's speed on the reference chain, loaded so that every
//! replica is busy most of the time. Reports wall time, simulated requests per second,
//! events per second and the peak resident memory of the process.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use kubetwin::model::{self, Override, kinds::CallMode};
use kubetwin::sim::{self, BuildOptions, World, world::Step};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario to run (its first flow is replaced by a Poisson flow at the bench load).
    #[arg(default_value = "examples/edge-image-recognition/scenario.yaml")]
    scenario: PathBuf,
    /// Requests to simulate.
    #[arg(long, default_value_t = 2_000_000)]
    requests: u64,
    /// Replicas of every Deployment.
    #[arg(long, default_value_t = 20)]
    replicas: u32,
    /// Target utilization of the busiest Deployment's workers.
    #[arg(long, default_value_t = 0.85)]
    utilization: f64,
    /// Repetitions; the best is reported with the others.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let replicas: Override = format!("deployment:spec.replicas={}", args.replicas).parse()?;
    let unloaded = model::load(&args.scenario, std::slice::from_ref(&replicas))?;
    let probe = sim::build(&unloaded, BuildOptions::default())?;
    let rate = args.utilization * f64::from(args.replicas) * 1000.0 / busiest_holding_ms(&probe);
    let flow: Override =
        format!("workload:spec.flows[0].arrivals={{type: poisson, rate: {rate}}}").parse()?;
    let scenario = model::load(&args.scenario, &[replicas, flow])?;
    let world = sim::build(
        &scenario,
        BuildOptions {
            seed: None,
            requests: Some(args.requests),
        },
    )
    .context("building the bench scenario")?;

    println!("scenario     {}", args.scenario.display());
    println!(
        "load         {rate:.0} requests/s, {} replicas per Deployment, {} requests",
        args.replicas, args.requests
    );
    let mut best = f64::INFINITY;
    for i in 1..=args.repeat {
        let start = Instant::now();
        let report = sim::run(&world, &mut |_| {});
        let wall = start.elapsed().as_secs_f64();
        best = best.min(wall);
        let busiest = report
            .services
            .iter()
            .filter_map(|s| s.utilization)
            .fold(0.0, f64::max);
        println!(
            "run {i}        {wall:.3} s wall, {:.0} requests/s, {:.0} events/s, utilization {busiest:.2}, TTR p99 {:.2} ms",
            report.requests.arrived as f64 / wall,
            report.events as f64 / wall,
            report.ttr.p99.unwrap_or(f64::NAN),
        );
    }
    println!(
        "best         {:.0} simulated requests/s",
        args.requests as f64 / best
    );
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS     {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}

/// How long a request holds a worker of the busiest Deployment, in milliseconds, without
/// queueing: its mean service time plus, for synchronous callers, the downstream holding.
fn busiest_holding_ms(world: &World) -> f64 {
    fn holding(world: &World, d: usize, depth: u32) -> f64 {
        let def = &world.deployments[d];
        let mut total = def.service_time.mean();
        if def.call_mode == CallMode::Sync && depth < 16 {
            let round_trip = 2.0 * world.network.intra_cluster.mean();
            for step in &def.steps {
                let (Step::Parallel(calls) | Step::OneOf(calls)) = step;
                let longest = calls
                    .iter()
                    .flat_map(|&(svc, _)| world.services[svc as usize].deployments.iter())
                    .map(|&callee| holding(world, callee as usize, depth + 1))
                    .fold(0.0, f64::max);
                total += round_trip + longest;
            }
        }
        total
    }
    (0..world.deployments.len())
        .map(|d| holding(world, d, 0))
        .fold(f64::MIN_POSITIVE, f64::max)
}

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
