use super::*;
use crate::report::palette::svg::{elements, hex};
use crate::sim::report::{
    AutoscalerReport, FaultEvent, RUN_REPORT_SCHEMA, RequestCounts, ScalingEvent, ServiceReport,
    Summary,
};

const ROWS: usize = 20;
/// Seconds per interval.
const STEP: f64 = 5.0;

fn service_report(name: &str) -> ServiceReport {
    ServiceReport {
        cost: Default::default(),
        name: name.into(),
        replicas: 0,
        running_pods: 0,
        pods_created: 0,
        pods_deleted: 0,
        pods_killed: 0,
        pods_evicted: 0,
        restarts: 0,
        arrivals: 0,
        processed: 0,
        rejected: 0,
        throughput: 0.0,
        utilization: None,
        ttp: Summary::default(),
        wait: Summary::default(),
    }
}

/// Two services: `backend` (index 0, 3 local pods, one killed at 60 s and replaced) and
/// `frontend` (index 1, autoscaled with a desired TTP of 200 ms, scaled from 2 to 4 at 40 s,
/// the new pods in tier 1; no TTP in interval 5). No request is rejected; 3 fail at 60 s.
fn report() -> RunReport {
    let timeseries = (0..ROWS)
        .map(|j| {
            let backend_ready = if j == 12 { 2 } else { 3 };
            let frontend_desired = if j >= 8 { 4 } else { 2 };
            let frontend_ready = if j >= 10 { 4 } else { 2 };
            IntervalRow {
                start: j as f64 * STEP,
                arrivals: if j >= 10 { 500 } else { 250 },
                completed: if j >= 10 { 495 } else { 248 },
                rejected: 0,
                failed: if j == 12 { 3 } else { 0 },
                ttr_mean: (j > 0).then_some(180.0 + j as f64),
                ttr_p99: (j > 0).then_some(400.0 + j as f64),
                services: vec![
                    IntervalService {
                        desired: 3,
                        pods: 3,
                        ready: backend_ready,
                        pods_by_tier: vec![3, 0, 0],
                        ttp_mean: Some(20.0),
                        queued: 0,
                        busy: 1,
                    },
                    IntervalService {
                        desired: frontend_desired,
                        pods: frontend_desired,
                        ready: frontend_ready,
                        pods_by_tier: vec![2, frontend_desired - 2, 0],
                        ttp_mean: (j != 5).then_some(if j < 10 { 320.0 } else { 150.0 }),
                        queued: 4,
                        busy: 2,
                    },
                ],
            }
        })
        .collect();
    RunReport {
        cost: Default::default(),
        schema: RUN_REPORT_SCHEMA,
        seed: 7,
        simulated_seconds: ROWS as f64 * STEP,
        events: 1000,
        window_seconds: [0.0, ROWS as f64 * STEP],
        requests: RequestCounts::default(),
        ttr: Summary::default(),
        request_types: Vec::new(),
        services: vec![service_report("backend"), service_report("frontend")],
        clusters: Vec::new(),
        pending_pods: Vec::new(),
        autoscalers: vec![AutoscalerReport {
            name: "frontend-hpa".into(),
            target: "frontend".into(),
            rule: "twin",
            desired_processing_time_ms: Some(200.0),
            syncs: 6,
            scale_ups: 1,
            scale_downs: 0,
            replicas: 4,
            metrics: Vec::new(),
            conditions: Vec::new(),
        }],
        scaling: vec![ScalingEvent {
            at: 40.0,
            autoscaler: "frontend-hpa".into(),
            from: 2,
            to: 4,
        }],
        faults: vec![
            FaultEvent {
                at: 60.0,
                what: "pod backend-1 killed".into(),
                pods_lost: 1,
                count: 1,
                last_at: 60.0,
            },
            // After the run: not drawn.
            FaultEvent {
                at: 1000.0,
                what: "pod backend-2 killed".into(),
                pods_lost: 1,
                count: 1,
                last_at: 1000.0,
            },
        ],
        timeseries,
    }
}

type Render = fn(&RunReport) -> Result<String, PlotError>;
const CHARTS: [Render; 5] = [arrivals_svg, replicas_svg, ttp_svg, ttr_svg, placement_svg];

/// The polylines stroked in `color` at `opacity`.
fn polylines<'s>(svg: &'s str, color: RGBColor, opacity: &str) -> Vec<&'s str> {
    let stroke = format!("stroke=\"{}\"", hex(color));
    let opacity = format!("opacity=\"{opacity}\"");
    elements(svg, "polyline")
        .into_iter()
        .filter(|e| e.contains(&stroke) && e.contains(&opacity))
        .collect()
}

/// How many `<text>` elements say exactly `text`.
fn texts(svg: &str, text: &str) -> usize {
    elements(svg, "text")
        .iter()
        .filter(|e| e.split_once('>').is_some_and(|(_, t)| t.trim() == text))
        .count()
}

/// The y coordinates of a polyline's points.
fn ys(polyline: &str) -> Vec<f64> {
    let points = polyline.split("points=\"").nth(1).unwrap();
    let points = &points[..points.find('"').unwrap()];
    points
        .split_whitespace()
        .map(|p| p.split_once(',').unwrap().1.parse().unwrap())
        .collect()
}

fn is_svg(svg: &str) -> bool {
    svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>")
}

#[test]
fn arrivals_draws_the_nonzero_rates_only() {
    let svg = arrivals_svg(&report()).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(texts(&svg, "Requests per second"), 1);
    assert_eq!(texts(&svg, "time (s)"), 1);
    // One line and one legend mark each for arrivals, completed and failed.
    for (label, color) in [
        ("arrivals", PALETTE[0]),
        ("completed", PALETTE[2]),
        ("failed", ALERT),
    ] {
        assert_eq!(polylines(&svg, color, "1").len(), 2, "{label}");
        assert_eq!(texts(&svg, label), 1, "{label}");
    }
    // Nothing is rejected: no line, no legend entry.
    assert!(polylines(&svg, PALETTE[1], "1").is_empty());
    assert_eq!(texts(&svg, "rejected"), 0);
}

#[test]
fn replicas_draw_ready_and_desired_per_service_and_the_faults_in_the_run() {
    let svg = replicas_svg(&report()).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(texts(&svg, "Replicas"), 1);
    for (i, name) in ["backend", "frontend"].into_iter().enumerate() {
        let color = service_color(i);
        // Ready: one solid line plus its legend mark.
        assert_eq!(polylines(&svg, color, "1").len(), 2, "{name}");
        // Desired: dashes (many polylines), plus the legend's two.
        assert!(polylines(&svg, color, "0.75").len() > 10, "{name}");
        assert_eq!(texts(&svg, &format!("{name} ready")), 1);
        assert_eq!(texts(&svg, &format!("{name} desired")), 1);
    }
    // The fault at 60 s (the one at 1000 s is after the run): a marker and a legend mark.
    assert_eq!(polylines(&svg, ALERT, "0.6").len(), 2);
    assert_eq!(texts(&svg, "fault (1)"), 1);
}

#[test]
fn the_desired_ttp_line_is_drawn_in_the_autoscaled_services_panel_only() {
    let r = report();
    let svg = ttp_svg(&r).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(texts(&svg, "Time to process (mean per interval)"), 1);
    assert_eq!(texts(&svg, "backend"), 1);
    assert_eq!(texts(&svg, "frontend"), 1);
    assert_eq!(texts(&svg, "mean TTP"), 2);
    assert_eq!(texts(&svg, "desired TTP (200 ms)"), 1);
    // frontend (the second of two panels, so the lower half) is the autoscaled one.
    let desired = polylines(&svg, ALERT, "1");
    assert!(desired.len() > 2);
    let height = f64::from(panel_height(&r).1);
    assert!(desired.iter().flat_map(|p| ys(p)).all(|y| y > height / 2.0));
    // frontend has no TTP in interval 5: two runs of line, plus the legend mark.
    assert_eq!(polylines(&svg, service_color(1), "1").len(), 3);
    assert_eq!(polylines(&svg, service_color(0), "1").len(), 2);

    let mut plain = r.clone();
    plain.autoscalers[0].desired_processing_time_ms = None;
    let svg = ttp_svg(&plain).unwrap();
    assert!(polylines(&svg, ALERT, "1").is_empty());
    assert!(!svg.contains("desired TTP"));
}

#[test]
fn ttr_draws_mean_and_p99() {
    let svg = ttr_svg(&report()).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(texts(&svg, "Time to resolution"), 1);
    assert_eq!(texts(&svg, "TTR (ms)"), 1);
    for (label, color) in [("mean", PALETTE[0]), ("p99", PALETTE[3])] {
        assert_eq!(polylines(&svg, color, "1").len(), 2, "{label}");
        assert_eq!(texts(&svg, label), 1, "{label}");
    }
}

#[test]
fn placement_stacks_the_tiers_that_have_pods() {
    let svg = placement_svg(&report()).unwrap();
    assert!(is_svg(&svg));
    assert_eq!(texts(&svg, "Pods per location tier"), 1);
    // backend: tier 0; frontend: tiers 0 and 1; tier 2 is empty everywhere.
    let polygons = elements(&svg, "polygon");
    assert_eq!(polygons.len(), 3, "{polygons:?}");
    let fill = |c| format!("fill=\"{}\"", hex(c));
    assert_eq!(
        polygons
            .iter()
            .filter(|p| p.contains(&fill(tier_color(0))))
            .count(),
        2
    );
    assert_eq!(
        polygons
            .iter()
            .filter(|p| p.contains(&fill(tier_color(1))))
            .count(),
        1
    );
    assert_eq!(texts(&svg, "tier 0 (local)"), 2);
    assert_eq!(texts(&svg, "tier 1"), 1);
    assert_eq!(texts(&svg, "tier 2"), 0);
    // Tier 1 sits on tier 0: its lowest edge is tier 0's top, never the axis.
    let tier1 = polygons
        .iter()
        .find(|p| p.contains(&fill(tier_color(1))))
        .unwrap();
    let tier0 = polygons
        .iter()
        .filter(|p| p.contains(&fill(tier_color(0))))
        .nth(1)
        .unwrap();
    let bottom = |p: &str| ys(p).into_iter().fold(f64::MIN, f64::max);
    assert!(bottom(tier1) < bottom(tier0));
}

#[test]
fn output_is_byte_identical_across_calls() {
    let r = report();
    for chart in CHARTS {
        assert_eq!(chart(&r).unwrap(), chart(&r.clone()).unwrap());
    }
}

#[test]
fn degenerate_reports_are_errors_or_empty_charts_never_panics() {
    let mut empty = report();
    empty.timeseries.clear();
    for chart in CHARTS {
        assert!(matches!(chart(&empty), Err(PlotError::Draw(m)) if m == "no time series"));
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(write_run_plots(&empty, &dir.path().join("out")).is_err());
    assert!(!dir.path().join("out").exists());

    // No services, no values at all.
    let mut bare = report();
    bare.services.clear();
    bare.autoscalers.clear();
    for row in &mut bare.timeseries {
        row.services.clear();
        (row.arrivals, row.completed, row.failed) = (0, 0, 0);
        (row.ttr_mean, row.ttr_p99) = (None, None);
    }
    for chart in CHARTS {
        assert!(is_svg(&chart(&bare).unwrap()));
    }
    assert_eq!(texts(&ttp_svg(&bare).unwrap(), "no services"), 1);

    // One row; rows shorter than the services list; a lone TTP between gaps.
    let mut one = report();
    one.timeseries.truncate(1);
    one.timeseries[0].services.truncate(1);
    for chart in CHARTS {
        assert!(is_svg(&chart(&one).unwrap()));
    }
    let mut lone = report();
    for (j, row) in lone.timeseries.iter_mut().enumerate() {
        row.services[1].ttp_mean = (j == 7).then_some(99.0);
    }
    let svg = ttp_svg(&lone).unwrap();
    assert!(
        elements(&svg, "circle")
            .iter()
            .any(|c| c.contains(&hex(service_color(1))))
    );
}

#[test]
fn write_run_plots_writes_five_files_in_order() {
    let r = report();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plots").join("run");
    let files = write_run_plots(&r, &out).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, RUN_PLOT_FILES);
    assert!(files.iter().all(|f| f.parent() == Some(out.as_path())));
    let written: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert_eq!(written[0], arrivals_svg(&r).unwrap());
    assert_eq!(written[4], placement_svg(&r).unwrap());
    assert!(written.iter().all(|svg| is_svg(svg)));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);
}
