#!/usr/bin/env bash
# Starts a local Kubernetes control plane on 127.0.0.1 from the binaries build.sh makes:
# etcd, kube-apiserver (RBAC, client-certificate admin, service-account tokens),
# kube-controller-manager, kube-scheduler, and KWOK running N fake nodes with
# region/zone/instance-type labels and allocatable CPU/memory. Waits until /readyz answers
# and every node is Ready, then prints shell `export` lines (also kept in DIR/env):
#
#   eval "$(tests/e2e/cluster/up.sh)"      # KUBECONFIG, KUBETWIN_CLUSTER_DIR, PATH
#   kubectl get nodes
#   tests/e2e/cluster/down.sh "$KUBETWIN_CLUSTER_DIR"
#
# Options:
#   --nodes N     fake nodes (default 6), spread over zones a, b, c of region eu-south-1
#   --dir DIR     state directory (default: a new temporary one); down.sh removes it
#   --watch PID   stop the cluster (down.sh) when process PID exits, e.g. a test binary
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

nodes=6 dir= watch=
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --watch) watch=$2; shift 2 ;;
    *) echo "up.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done

bin=$("$here/build.sh")
started=$(date +%s.%N)
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/kubetwin-cluster.XXXXXX")
mkdir -p "$dir/logs" "$dir/pki"
: > "$dir/pids"
pki=$dir/pki

fail() {
  echo "up.sh: $*" >&2
  echo "up.sh: logs are in $dir/logs; stopping what was started" >&2
  for f in "$dir"/logs/*.log; do echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; done
  "$here/down.sh" --keep "$dir" >&2 || true
  exit 1
}

# Free loopback ports: bind port 0, read what the kernel gave, let it go.
read -r etcd_port peer_port api_port kcm_port sched_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

# --- certificates: one CA; a serving cert for the API server; an admin client cert in
# system:masters; an RSA key that signs and verifies service-account tokens.
ssl() { openssl "$@" 2>>"$dir/logs/openssl.log"; }
ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=kubetwin-test-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt"
sign() { # name subject extensions
  ssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr"
  printf '%s\n' "$3" > "$pki/$1.ext"
  ssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/$1.ext" -out "$pki/$1.crt"
}
sign apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
sign admin "/O=system:masters/CN=kubetwin-admin" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
ssl genrsa -out "$pki/sa.key" 2048
ssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

b64() { base64 -w0 < "$1"; }
kubeconfig=$dir/admin.kubeconfig
cat > "$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubetwin-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: kubetwin-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: kubetwin-test
  context: {cluster: kubetwin-test, user: kubetwin-admin}
current-context: kubetwin-test
EOF

start() { # name binary args...: background, logs to a file, pid recorded for down.sh
  local name=$1; shift
  "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
  echo "$name $!" >> "$dir/pids"
}

start etcd "$bin/etcd" --name kubetwin --data-dir "$dir/etcd" --log-level warn \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "kubetwin=http://127.0.0.1:$peer_port" --unsafe-no-fsync

start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
  --allow-privileged --profiling=false

# Wait for etcd and the API server together: the API server retries etcd on its own.
api() { curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  "https://127.0.0.1:$api_port$1"; }
for _ in $(seq 1 300); do
  [ "$(api /readyz 2>/dev/null)" = ok ] && break
  for p in $(cut -d' ' -f2 "$dir/pids"); do kill -0 "$p" 2>/dev/null || fail "a process exited (pid $p)"; done
  sleep 0.1
done
[ "$(api /readyz 2>/dev/null)" = ok ] || fail "the API server's /readyz did not answer ok within 30 s"

common=(--kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig"
  --authorization-kubeconfig "$kubeconfig" --bind-address 127.0.0.1 --leader-elect=false)
start kube-controller-manager "$bin/kube-controller-manager" "${common[@]}" --secure-port "$kcm_port" \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --use-service-account-credentials --horizontal-pod-autoscaler-sync-period 5s
start kube-scheduler "$bin/kube-scheduler" "${common[@]}" --secure-port "$sched_port"
# KWOK plays the kubelets of the nodes annotated kwok.x-k8s.io/node=fake: it keeps them
# Ready and takes their pods through their lifecycle (Running, Ready) with no containers.
start kwok "$bin/kwok" --kubeconfig "$kubeconfig" --config "$bin/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --cidr 10.244.0.0/16 --node-ip 10.240.0.1 --node-lease-duration-seconds 40

export KUBECONFIG=$kubeconfig
zones=(a b c)
for i in $(seq 0 $((nodes - 1))); do
  zone=eu-south-1${zones[$((i % 3))]}
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake}
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    topology.kubernetes.io/region: eu-south-1
    topology.kubernetes.io/zone: $zone
    node.kubernetes.io/instance-type: m5.2xlarge
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
EOF
done > "$dir/nodes.yaml"
"$bin/kubectl" apply -f "$dir/nodes.yaml" >"$dir/logs/nodes.log" 2>&1 || fail "kubectl apply of the nodes failed"
"$bin/kubectl" wait --for=condition=Ready node --all --timeout=60s >>"$dir/logs/nodes.log" 2>&1 \
  || fail "the fake nodes did not become Ready within 60 s"
# The scheduler binds pods only once it has synced; the default ServiceAccount appears
# when the controller manager has. Wait for both, so a test's first pod is not refused.
for _ in $(seq 1 200); do
  "$bin/kubectl" get serviceaccount default -n default >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin/kubectl" get serviceaccount default -n default >/dev/null 2>&1 \
  || fail "the controller manager did not create the default ServiceAccount within 20 s"

if [ -n "$watch" ]; then
  # In a session of its own, so that a signal to the watched process's group (Ctrl-C on a
  # test run) does not take the watcher with it: it still removes what is left.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" "$3"' \
    watcher "$watch" "$here/down.sh" "$dir" </dev/null >/dev/null 2>&1 &
  echo $! > "$dir/watcher.pid"
fi

cat > "$dir/env" <<EOF
export KUBETWIN_CLUSTER_DIR=$dir
export KUBECONFIG=$kubeconfig
export PATH=$bin:\$PATH
EOF
echo "up.sh: $nodes nodes Ready in $(python3 -c "import time; print(f'{time.time() - $started:.1f}')") s; stop with: $here/down.sh $dir" >&2
cat "$dir/env"
