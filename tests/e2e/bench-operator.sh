#!/usr/bin/env bash
# Measures issue 11's performance targets of `kubetwin operator` (release build) on the
# reference application (examples/edge-image-recognition: users -> ms1 -> ms2):
#
#   (a) from a TwinExperiment's creation to its first RecommendationReady/UpToDate/SLOAtRisk status,
#       and the cycle's own `status.lastCycle.seconds`;
#   (b) from a change in metrics to the updated model and recommendation in the status:
#       Prometheus is restarted on the same port with the same metrics at --new-rate
#       instead of --rate, just after a cycle finished (the worst phase), and the next cycle
#       comes with the cadence (the operator does not watch Prometheus);
#   (b2) the metrics back at --rate, then a spec change (spec.cadence + 1 s), which starts
#       a cycle at once: the reaction time without the wait for the cadence;
#   (c) the operator's resident memory (VmRSS from /proc) between cycles over --cycles
#       cadence cycles, and its peak (VmHWM).
#
# Everything runs as local processes on 127.0.0.1: the control plane of tests/e2e/cluster
# (started here, or the one $KUBETWIN_CLUSTER_DIR names), a real Prometheus (Debian's
# `prometheus` and `promtool`) backfilled with Istio metrics that run from two hours ago to
# an hour from now (so every 30 m window the operator reads is full), and the operator.
# The application is `kubetwin export` of the reference scenario (4 + 4 pods requesting
# 20 and 60 CPU) plus an HPA on each Deployment, on 25 fake nodes shaped like the
# scenario's local data centre (100 CPU, 100 GiB, 4.0/h, users 2 ms away). The experiment
# uses the DEFAULT budget (20,000 requests x 5 replications, 64 configurations, 60 s) over
# both HPAs' minReplicas [1, 12] and maxReplicas [4, 16], and the SLO p99 <= --slo-ms
# (100: the twin predicts ~119 ms for the current 4 + 4 pods at 100 requests/s, so the
# first cycle has something to recommend).
#
#   tests/e2e/bench-operator.sh                  # prints the figures and a RESULT line
#   tests/e2e/bench-operator.sh --cadence 30s --cycles 3 --rate 100 --new-rate 150
#
# Options: --cadence D (30s), --cycles N (cadence cycles watched for memory, 3), --rate R
# and --new-rate R (requests/s before and after the change, 100 and 150), --slo-ms MS
# (100), --bin PATH (the kubetwin binary; default: cargo build --release, then
# target/release/kubetwin), --budget YAML (a budget instead of the default, e.g.
# '{requests: 2000}', for a smoke test), --keep (keep the work directory with the logs).
# KUBETWIN_LOG sets the operator's log filter (default kubetwin=info). Every process
# started here is stopped by its pid on exit, failure or interrupt; one run takes about
# 3 minutes (plus the cluster's start-up).
#
# What the figures mean: a cycle starts `cadence` after the previous reconcile ended, plus
# the controller's 2 s debounce, so (b) is about cadence + 2 s + one cycle; (b2) is the
# debounce plus one cycle.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

cadence=30s cycles=3 rate=100 new_rate=150 slo_ms=100 bin= budget= keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cadence) cadence=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --new-rate) new_rate=$2; shift 2 ;;
    --slo-ms) slo_ms=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "bench-operator: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
case "$cadence" in
  *s) cadence_s=${cadence%s} ;;
  *m) cadence_s=$(( ${cadence%m} * 60 )) ;;
  *) echo "bench-operator: --cadence takes seconds or minutes (30s, 1m)" >&2; exit 2 ;;
esac
for tool in prometheus promtool python3 curl; do
  command -v "$tool" >/dev/null || {
    echo "bench-operator: needs $tool (Debian: apt-get install prometheus curl python3)" >&2; exit 1; }
done
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --bin kubetwin) >&2
  bin=$root/target/release/kubetwin
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kubetwin-bench.XXXXXX")
log() { printf 'bench-operator: %s\n' "$*" >&2; }
now() { printf '%s' "$EPOCHREALTIME"; }
ns=kubetwin-bench-$$
cluster_started= operator_pid= prom_pid= watch_pid= stamp_pid= sampler_pid= nodes_made=0

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for p in $sampler_pid $watch_pid $stamp_pid $operator_pid $prom_pid; do
    kill "$p" 2>/dev/null || true
  done
  for p in $sampler_pid $watch_pid $stamp_pid $operator_pid $prom_pid; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ -n "${KUBECONFIG:-}" ]; then
    kubectl get twin -n "$ns" -o yaml >"$work/twin.yaml" 2>/dev/null || true
  fi
  if [ -n "$cluster_started" ]; then
    "$root/tests/e2e/cluster/down.sh" "$KUBETWIN_CLUSTER_DIR" >&2 || true
  elif [ -n "${KUBECONFIG:-}" ] && command -v kubectl >/dev/null; then
    # A cluster we did not start: take back what we added to it.
    kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    if [ "$nodes_made" = 1 ]; then
      kubectl delete node -l "kubetwin.io/bench=$ns" --wait=false >/dev/null 2>&1 || true
    fi
  fi
  if [ "$keep" = 1 ] || [ "$status" != 0 ]; then
    log "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the control plane
if [ -n "${KUBETWIN_CLUSTER_DIR:-}" ]; then
  # shellcheck disable=SC1091
  . "$KUBETWIN_CLUSTER_DIR/env"
  log "reusing the control plane in $KUBETWIN_CLUSTER_DIR"
else
  env_lines=$("$root/tests/e2e/cluster/up.sh" --watch $$)
  eval "$env_lines"
  cluster_started=1
fi

# --- the application: 25 nodes like the scenario's local DC, tainted so that only the
# bench's pods land there; the reference Deployments and Services; an HPA on each.
for i in $(seq 0 24); do
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $ns-$i
  annotations:
    kwok.x-k8s.io/node: fake
    kubetwin.io/price-per-hour: "4.0"
    kubetwin.io/latency-ms: "users=2"
  labels:
    kubernetes.io/hostname: $ns-$i
    kubernetes.io/os: linux
    type: kwok
    kubetwin.io/bench: $ns
    topology.kubernetes.io/region: eu-south-1
spec:
  taints: [{key: kubetwin.io/bench, value: "$ns", effect: NoSchedule}]
status:
  allocatable: {cpu: "100", memory: 100Gi, pods: "110"}
  capacity: {cpu: "100", memory: 100Gi, pods: "110"}
EOF
done > "$work/nodes.yaml"
nodes_made=1
kubectl apply -f "$work/nodes.yaml" >/dev/null
kubectl wait --for=condition=Ready node -l "kubetwin.io/bench=$ns" --timeout=60s >/dev/null
kubectl create namespace "$ns" >/dev/null
kubectl apply --server-side -f "$root/crds/" >/dev/null
kubectl wait --for=condition=Established crd/twinexperiments.kubetwin.io --timeout=60s >/dev/null
"$bin" export "$root/examples/edge-image-recognition/scenario.yaml" \
  --set 'deployment:spec.template.spec.tolerations=[{key: kubetwin.io/bench, operator: Exists, effect: NoSchedule}]' \
  --set 'deployment:metadata.labels.app\.kubernetes\.io/part-of=edge-image-recognition' \
  --set 'service:metadata.labels={app.kubernetes.io/part-of: edge-image-recognition}' \
  > "$work/application.yaml"
for d in ms1 ms2; do
  cat <<EOF
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: $d}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: $d}
  minReplicas: 4
  maxReplicas: 8
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
EOF
done >> "$work/application.yaml"
kubectl apply -n "$ns" -f "$work/application.yaml" >/dev/null
kubectl rollout status -n "$ns" deployment/ms1 deployment/ms2 --timeout=120s >/dev/null

# --- Prometheus: Istio's metrics for the namespace, from 2 h ago to 1 h ahead, every 60 s.
# ms1 answers in 9.7 ms on average and ms2 in 10.2 ms (log-normal, sigma 0.5 and 0.35);
# every request to ms1 calls ms2. Counts are the exact expectations, so rate() and the
# histograms say precisely `rate` requests/s and those distributions.
tsdb() { # rate dir
  python3 - "$ns" "$1" "$(date +%s)" > "$2.om" <<'EOF'
import math, sys
ns, rate, now = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
step, t0, t1 = 60, now - 7200, now + 3600
buckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
           300000, 600000, 1800000, 3600000]
calls = [("unknown", "ms1", 9.7, 0.5), ("ms1", "ms2", 10.2, 0.35)]  # source, workload, mean ms, sigma
def labels(src, dst):
    return (f'reporter="destination",source_workload="{src}",destination_workload="{dst}",'
            f'destination_workload_namespace="{ns}"')
w = sys.stdout.write
w("# TYPE istio_requests counter\n")
for src, dst, _, _ in calls:
    for t in range(t0, t1 + 1, step):
        w(f"istio_requests_total{{{labels(src, dst)}}} {rate * (t - t0):.0f} {t}\n")
w("# TYPE istio_request_duration_milliseconds histogram\n")
for src, dst, mean, sigma in calls:
    mu = math.log(mean) - sigma * sigma / 2
    cdf = [0.5 * (1 + math.erf((math.log(b) - mu) / (sigma * math.sqrt(2)))) for b in buckets]
    name = "istio_request_duration_milliseconds"
    for t in range(t0, t1 + 1, step):
        n = rate * (t - t0)
        for b, c in zip(buckets, cdf):
            w(f'{name}_bucket{{{labels(src, dst)},le="{b}"}} {round(n * c)} {t}\n')
        w(f'{name}_bucket{{{labels(src, dst)},le="+Inf"}} {n:.0f} {t}\n')
        w(f"{name}_count{{{labels(src, dst)}}} {n:.0f} {t}\n")
        w(f"{name}_sum{{{labels(src, dst)}}} {n * mean:.3f} {t}\n")
w("# EOF\n")
EOF
  promtool tsdb create-blocks-from openmetrics "$2.om" "$2" >"$2.promtool.log" 2>&1
}
prom_port=$(free_port)
printf 'global: {scrape_interval: 15s}\nscrape_configs: []\n' > "$work/prometheus.yml"
prom_start() { # tsdb dir
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$1" \
    --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$prom_port" \
    </dev/null >>"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  for _ in $(seq 1 300); do
    curl -fsS --max-time 1 "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && return 0
    kill -0 "$prom_pid" 2>/dev/null || { log "prometheus exited; see $work/prometheus.log"; exit 1; }
    sleep 0.1
  done
  log "prometheus not ready within 30 s"; exit 1
}
prom_stop() {
  kill "$prom_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$prom_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$prom_pid" 2>/dev/null || true
  wait "$prom_pid" 2>/dev/null || true
  prom_pid=
}
tsdb "$rate" "$work/tsdb-1"
prom_start "$work/tsdb-1"

# --- the operator
op_port=$(free_port)
KUBETWIN_LOG=${KUBETWIN_LOG:-kubetwin=info} "$bin" operator --kubeconfig "$KUBECONFIG" \
  --listen "127.0.0.1:$op_port" --namespace "$ns" --lease-namespace "$ns" --identity bench \
  </dev/null >"$work/operator.log" 2>&1 &
operator_pid=$!
for _ in $(seq 1 300); do
  [ "$(curl -fsS --max-time 1 "http://127.0.0.1:$op_port/readyz" 2>/dev/null)" = "ok: leading" ] && break
  kill -0 "$operator_pid" 2>/dev/null || { log "the operator exited:"; tail -n 20 "$work/operator.log" >&2; exit 1; }
  sleep 0.1
done
[ "$(curl -fsS --max-time 1 "http://127.0.0.1:$op_port/readyz" 2>/dev/null)" = "ok: leading" ] \
  || { log "the operator did not lead within 30 s"; exit 1; }

# Memory: VmRSS, VmHWM, RssAnon (heap, stacks) and RssFile (mapped files: the binary's
# code) in KiB, every 0.5 s, timestamped; one process, which ends with the operator (or
# after 3 hours).
python3 -u - "$operator_pid" > "$work/rss.txt" <<'EOF' &
import sys, time
pid = sys.argv[1]
for _ in range(21600):
    try:
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    except OSError:
        break
    kib = lambda key: (status.get(key, "").split() or [""])[0]
    print(f"{time.time():.6f} {kib('VmRSS')} {kib('VmHWM')} {kib('RssAnon')} {kib('RssFile')}")
    time.sleep(0.5)
EOF
sampler_pid=$!
sleep 1 # a sample before the experiment exists

# The experiment's status as it changes: one timestamped line per watch event (a single
# kubectl, so polling costs the operator no CPU). Fields are separated by "|": kubectl
# aligns tabs.
events=$work/events.txt
: > "$events"
fields='{.metadata.generation}{"|"}{.status.phase}{"|"}{.status.lastCycle.finishedAt}{"|"}{.status.lastCycle.seconds}{"|"}{.status.lastCycle.configurations}{"|"}{.status.model.requestsPerSecond}{"|"}{.status.current.predicted.p99}{"|"}{.status.recommendation}{"\n"}'
experiment() {
  cat <<EOF
apiVersion: kubetwin.io/v1alpha1
kind: TwinExperiment
metadata: {name: edge, namespace: $ns}
spec:
  target:
    selector: {matchLabels: {app.kubernetes.io/part-of: edge-image-recognition}}
    entry: ms1
  model:
    prometheus: {url: "http://127.0.0.1:$prom_port", preset: istio, window: 30m}
  slo: {metric: p99, thresholdMs: $slo_ms}
  searchSpace:
    - {hpa: ms1, minReplicas: [1, 12], maxReplicas: [4, 16]}
    - {hpa: ms2, minReplicas: [1, 12], maxReplicas: [4, 16]}
  cadence: $cadence
EOF
  [ -z "$budget" ] || echo "  budget: $budget"
}
experiment > "$work/experiment.yaml"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_create=$(now)
kubectl create -f "$work/experiment.yaml" >/dev/null
mkfifo "$work/watch.fifo"
kubectl get twin edge -n "$ns" --watch -o "jsonpath=$fields" >"$work/watch.fifo" 2>>"$work/watch.err" &
watch_pid=$!
(while IFS= read -r line; do printf '%s|%s\n' "$EPOCHREALTIME" "$line"; done) <"$work/watch.fifo" >>"$events" &
stamp_pid=$!

# The events file's columns: 1 time, 2 generation, 3 phase, 4 finishedAt, 5 seconds,
# 6 configurations, 7 requests/s, 8 predicted p99, 9 recommendation.
cycles_seen() { awk -F'|' '$4 != "" && $4 != last { n++; last = $4 } END { print n + 0 }' "$events"; }
cycles_at_least() { [ "$(cycles_seen)" -ge "$1" ]; }
last_event() { awk -F'|' '$4 != "" && $4 != last { line = $0; last = $4 } END { print line }' "$events"; }
wait_for() { # description, bound in seconds, condition (a command)
  local what=$1 bound=$2; shift 2
  local deadline=$(( ${EPOCHSECONDS} + bound ))
  while [ "$EPOCHSECONDS" -lt "$deadline" ]; do
    "$@" && return 0
    kill -0 "$operator_pid" 2>/dev/null || { log "the operator exited:"; tail -n 20 "$work/operator.log" >&2; exit 1; }
    sleep 0.2
  done
  log "$what: not seen within $bound s; last events:"; tail -n 5 "$events" >&2
  tail -n 20 "$work/operator.log" >&2
  exit 1
}
phase_is_final() { awk -F'|' '$3 == "RecommendationReady" || $3 == "UpToDate" || $3 == "SLOAtRisk" { f = 1 } END { exit !f }' "$events"; }
degraded() { awk -F'|' '$3 == "Degraded" { f = 1 } END { exit !f }' "$events"; }

# (a) creation -> first status with a result.
wait_for "a first RecommendationReady, UpToDate or SLOAtRisk" 300 phase_is_final
first=$(awk -F'|' '$3 == "RecommendationReady" || $3 == "UpToDate" || $3 == "SLOAtRisk" { print; exit }' "$events")
if degraded; then log "the experiment was Degraded on the way:"; grep Degraded "$events" >&2 || true; fi

# (c) a few cadence cycles, for memory between them; then (b) a change in metrics just
# after the last of them (the worst phase: the next cycle is a whole cadence away).
tsdb "$new_rate" "$work/tsdb-2"
wait_for "$cycles more cycles" $(( (cadence_s + 60) * cycles + 60 )) \
  cycles_at_least $(( $(cycles_seen) + cycles ))
rate_at_least() { # requests/s: a cycle after $before saw at least this rate
  awk -F'|' -v after="$before" -v min="$1" \
    '$4 != "" && $4 != after && $7 + 0 >= min { f = 1 } END { exit !f }' "$events"
}
before=$(last_event | cut -d"|" -f4)
prom_stop
prom_start "$work/tsdb-2"
t_change=$(now)
mid=$(python3 -c "print(($rate + $new_rate) / 2)")
wait_for "the model at $new_rate requests/s" $(( cadence_s + 120 )) rate_at_least "$mid"
changed=$(awk -F'|' -v after="$before" -v min="$mid" '$4 != "" && $4 != after && $7 + 0 >= min { print; exit }' "$events")

# (b2) back to --rate, and a spec change that starts a cycle at once.
tsdb "$rate" "$work/tsdb-3"
before=$(last_event | cut -d"|" -f4)
prom_stop
prom_start "$work/tsdb-3"
t_patch=$(now)
kubectl patch twin edge -n "$ns" --type=merge -p "{\"spec\":{\"cadence\":\"$((cadence_s + 1))s\"}}" >/dev/null
rate_at_most() {
  awk -F'|' -v after="$before" -v max="$1" \
    '$4 != "" && $4 != after && $2 >= 2 && $7 + 0 <= max { f = 1 } END { exit !f }' "$events"
}
wait_for "the model back at $rate requests/s" $(( cadence_s + 120 )) rate_at_most "$mid"
patched=$(awk -F'|' -v after="$before" -v max="$mid" '$4 != "" && $4 != after && $2 >= 2 && $7 + 0 <= max { print; exit }' "$events")
sleep 2
t_end=$(now)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
kill "$sampler_pid" 2>/dev/null || true

# --- the figures
python3 - "$t_create" "$t_change" "$t_patch" "$t_end" "$work/rss.txt" "$events" \
  "$first" "$changed" "$patched" "$cadence" "$rate" "$new_rate" "${budget:-default}" "$slo_ms" "$load_start" "$load_end" "$(nproc)" <<'EOF'
import statistics, sys
t_create, t_change, t_patch, t_end = map(float, sys.argv[1:5])
rss_file, events_file, first, changed, patched, cadence, rate, new_rate, budget, slo = sys.argv[5:15]
load_start, load_end, cores = sys.argv[15:18]
cols = lambda line: line.split("|")
rec = lambda e: "|".join(e[8:]) or "no recommendation"
events = [cols(l.rstrip("\n")) for l in open(events_file) if l.strip()]
# Cycles: the first event with each new finishedAt; it ran over about [t - seconds - 1.5, t]
# (`seconds` leaves out listing the target's objects). Memory samples outside every such
# span (and outside creation -> first cycle) are "between cycles".
cycles, last = [], None
for e in events:
    if len(e) > 4 and e[3] and e[3] != last:
        last = e[3]
        cycles.append((float(e[0]), float(e[4] or 0)))
samples = []  # time, VmRSS, VmHWM, RssAnon, RssFile (MiB)
for l in open(rss_file):
    p = l.split()
    if len(p) == 5 and all(p):
        samples.append((float(p[0]), *(int(x) / 1024 for x in p[1:])))
busy = [(t - s - 1.5, t + 1.0) for t, s in cycles]
busy.append((t_create, cycles[0][0] + 1.0) if cycles else (t_create, t_end))
idle = [s for s in samples if s[0] > t_create and not any(a <= s[0] <= b for a, b in busy)]
before_first = [s[1] for s in samples if s[0] <= t_create]
peak_idle = max(idle, key=lambda s: s[1]) if idle else (0,) + (float("nan"),) * 4
hwm = max(s[2] for s in samples) if samples else float("nan")
f, c, p = cols(first), cols(changed), cols(patched)
secs = [s for _, s in cycles]
fig = {
    "first_status_s": float(f[0]) - t_create,
    "first_cycle_s": float(f[4]),
    "metrics_change_to_update_s": float(c[0]) - t_change,
    "update_cycle_s": float(c[4]),
    "spec_change_to_update_s": float(p[0]) - t_patch,
    "spec_change_cycle_s": float(p[4]),
    "cycle_s_median": statistics.median(secs),
    "cycle_s_max": max(secs),
    "cycles": len(cycles),
    "configurations": int(f[5] or 0),
    "rss_idle_max_mib": peak_idle[1],
    "rss_anon_at_idle_max_mib": peak_idle[3],
    "rss_file_at_idle_max_mib": peak_idle[4],
    "rss_idle_last_mib": idle[-1][1] if idle else float("nan"),
    "rss_before_first_mib": before_first[-1] if before_first else float("nan"),
    "hwm_mib": hwm,
    "rss_anon_max_mib": max(s[3] for s in samples) if samples else float("nan"),
}
print(f"""
reference application, SLO p99 <= {slo} ms, budget {budget}, cadence {cadence}; {len(cycles)} cycles, {fig['configurations']} configurations each
(a) created -> {f[2]}:               {fig['first_status_s']:6.1f} s  (lastCycle.seconds {fig['first_cycle_s']:.1f}; predicted p99 {f[7]}; {rec(f)})
(b) metrics {rate} -> {new_rate} req/s -> updated: {fig['metrics_change_to_update_s']:6.1f} s  (waits for the cadence; that cycle {fig['update_cycle_s']:.1f} s; {rec(c)})
(b2) metrics back + spec change -> updated: {fig['spec_change_to_update_s']:6.1f} s  (that cycle {fig['spec_change_cycle_s']:.1f} s)
cycle seconds: median {fig['cycle_s_median']:.1f}, max {fig['cycle_s_max']:.1f} over {len(cycles)}: {' '.join(f'{s:.1f}' for s in secs)}
operator VmRSS: {fig['rss_before_first_mib']:.1f} MiB before the first cycle, between cycles max {fig['rss_idle_max_mib']:.1f} MiB (RssAnon {fig['rss_anon_at_idle_max_mib']:.1f} + RssFile {fig['rss_file_at_idle_max_mib']:.1f}; last {fig['rss_idle_last_mib']:.1f}); VmHWM {fig['hwm_mib']:.1f} MiB, RssAnon at most {fig['rss_anon_max_mib']:.1f} MiB
load average (1, 5, 15 min) on {cores} cores: {load_start} when the experiment was created, {load_end} at the end""")
print("RESULT " + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in fig.items()))
EOF
