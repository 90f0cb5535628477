#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by the pids it recorded, newest first) and
# removes its directory.
#
#   tests/e2e/cluster/down.sh [--keep] DIR     --keep leaves DIR (and its logs) in place
set -uo pipefail
keep=0
[ "${1:-}" = --keep ] && { keep=1; shift; }
dir=${1:?usage: down.sh [--keep] DIR (the KUBETWIN_CLUSTER_DIR that up.sh printed)}
[ -f "$dir/pids" ] || { echo "down.sh: $dir/pids not found: not a cluster up.sh started" >&2; exit 1; }

# A pid is ours only while its command line still names the binary up.sh started.
ours() { [ -r "/proc/$2/cmdline" ] && tr '\0' ' ' < "/proc/$2/cmdline" | grep -q "/$1 "; }

if [ -f "$dir/watcher.pid" ]; then
  w=$(cat "$dir/watcher.pid")
  # When the watcher itself runs us (it execs down.sh), it ends with us.
  [ "$w" != "$PPID" ] && [ "$w" != "$$" ] && kill "$w" 2>/dev/null
fi
pids=()
while read -r name pid; do
  if ours "$name" "$pid"; then kill "$pid" 2>/dev/null && pids=("$pid" "${pids[@]}"); fi
done < <(tac "$dir/pids")
for _ in $(seq 1 100); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
[ "$keep" = 1 ] || rm -rf "$dir"
