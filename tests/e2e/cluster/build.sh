#!/usr/bin/env bash
# Builds, once, the binaries of the local control plane from their Go modules:
#   kube/   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#   tools/  kwok (and its stage definitions), helm
# into a cache directory keyed by the recipes' go.mod and go.sum, so a fresh clone on the
# same machine (CI) reuses them, and a change of pinned version builds anew.
# Prints the directory holding the binaries on stdout; progress goes to stderr.
#
#   KUBETWIN_CLUSTER_CACHE  where builds are kept (default: ~/.cache/kubetwin/cluster)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

key=$(cat "$here"/kube/go.mod "$here"/kube/go.sum "$here"/tools/go.mod "$here"/tools/go.sum \
  | sha256sum | cut -c1-16)
bin="${KUBETWIN_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetwin/cluster}/$key/bin"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm kwok-stages.yaml)

missing=0
for b in "${want[@]}"; do [ -e "$bin/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  command -v go >/dev/null || { echo "build.sh: needs Go (https://go.dev/doc/install)" >&2; exit 1; }
  mkdir -p "$bin.partial"
  for recipe in kube tools; do
    echo "build.sh: building $recipe/ (go build tool) into $bin; cold, this takes many minutes" >&2
    start=$(date +%s)
    # -mod=readonly: the recipes' go.sum pin every module; a build never edits them.
    (cd "$here/$recipe" && go build -mod=readonly -o "$bin.partial/" tool)
    echo "build.sh: $recipe/ built in $(( $(date +%s) - start )) s" >&2
  done
  # etcd's main package is its server module's root, go.etcd.io/etcd/server/v3.
  mv "$bin.partial/server" "$bin.partial/etcd"
  # KWOK's own stages, from its module: nodes become Ready and keep their leases; pods
  # become Ready, complete and are deleted as a kubelet would.
  stages=$(cd "$here/tools" && go list -mod=readonly -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
           pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    echo "---"; cat "$stages/$f.yaml"
  done > "$bin.partial/kwok-stages.yaml"
  rm -rf "$bin" && mv "$bin.partial" "$bin"
fi
for b in "${want[@]}"; do
  [ -e "$bin/$b" ] || { echo "build.sh: $bin/$b was not built" >&2; exit 1; }
done
echo "$bin"
