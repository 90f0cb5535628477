#!/usr/bin/env bash
# Prints deploy/kubetwin.yaml: a Namespace, then the chart charts/kubetwin rendered with its
# default values for release "kubetwin" in namespace "kubetwin", its CRD included. After any
# change to the chart, regenerate it (needs helm 3 on PATH; tests/e2e/cluster/build.sh
# builds one):
#
#   deploy/render.sh > deploy/kubetwin.yaml
#
# A test (tests/it/chart.rs) fails when the file differs from a fresh rendering.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<'YAML'
# kubetwin: the operator and its TwinExperiment CRD as plain manifests, for clusters
# without Helm. Install:
#
#   kubectl apply --server-side -f deploy/kubetwin.yaml
#
# It has no default Prometheus: name one in each TwinExperiment (spec.model.prometheus.url),
# or add --prometheus-url=URL to the Deployment's args (the chart's prometheus.url).
#
# Generated from charts/kubetwin by deploy/render.sh; do not edit. Regenerate with
#   deploy/render.sh > deploy/kubetwin.yaml
---
apiVersion: v1
kind: Namespace
metadata:
  name: kubetwin
  labels:
    # The operator meets the restricted Pod Security Standard.
    pod-security.kubernetes.io/enforce: restricted
YAML
helm template kubetwin charts/kubetwin --namespace kubetwin --include-crds
