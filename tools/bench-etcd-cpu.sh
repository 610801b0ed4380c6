#!/bin/bash
# CPU per operation of ordo and of a real etcd 3.4, and of the load
# generator: 3 members of each on loopback (one system at a time), driven by
# `ordo bench --protocol etcd` (puts of 100-byte values, then linearizable
# one-key ranges). Prints ops/s and the CPU microseconds per operation of
# the three members together (utime + stime from /proc/PID/stat) and of the
# client (/usr/bin/time). On a machine where clients and servers share the
# cores, 2 s of CPU per second divided by their sum is the ceiling on
# throughput (BENCHMARKS.md, "ordo against etcd 3.4").
#
# usage: tools/bench-etcd-cpu.sh [ORDO_BINARY]   (default target/release/ordo)
# settings from the environment: CLIENTS (256), SECS (5), SYSTEMS ("ordo etcd").
# needs: etcd and etcdctl (Debian's etcd-server, etcd-client), python3,
#   /usr/bin/time. Run from the repository root.
set -eu
ordo=${1:-target/release/ordo}
clients=${CLIENTS:-256}
secs=${SECS:-5}
[ -x "$ordo" ] || { echo "no ordo binary at $ordo (cargo build --release -p ordo-kv --bin ordo)" >&2; exit 1; }
for tool in etcd etcdctl python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/bench-etcd-cpu.XXXXXX)
pids=""
stop() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  pids=""
}
trap 'stop; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Ports below the ephemeral range: ordo 25791-25793 / 25801-25803, etcd 26791-26793 / 26801-26803.
start() {
  if [ "$1" = ordo ]; then
    cluster="1=127.0.0.1:25801@http://127.0.0.1:25791,2=127.0.0.1:25802,3=127.0.0.1:25803"
    for id in 1 2 3; do
      "$ordo" serve --id "$id" --cluster cpu --peer-listen "127.0.0.1:2580$id" \
        --client-listen "127.0.0.1:2579$id" --data "$work/ordo-$id" --initial-cluster "$cluster" \
        >"$work/ordo-$id.log" 2>&1 &
      pids="$pids $!"
    done
    endpoints=http://127.0.0.1:25791,http://127.0.0.1:25792,http://127.0.0.1:25793
  else
    cluster="e1=http://127.0.0.1:26801,e2=http://127.0.0.1:26802,e3=http://127.0.0.1:26803"
    for id in 1 2 3; do
      etcd --name "e$id" --data-dir "$work/etcd-$id" \
        --listen-client-urls "http://127.0.0.1:2679$id" --advertise-client-urls "http://127.0.0.1:2679$id" \
        --listen-peer-urls "http://127.0.0.1:2680$id" --initial-advertise-peer-urls "http://127.0.0.1:2680$id" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token cpu \
        >"$work/etcd-$id.log" 2>&1 &
      pids="$pids $!"
    done
    endpoints=http://127.0.0.1:26791,http://127.0.0.1:26792,http://127.0.0.1:26793
  fi
  tries=0
  until ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --command-timeout 2s put ready yes >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "no leader at $endpoints after 30 s; logs in $work" >&2; exit 1; }
    sleep 0.5
  done
}
ticks() {
  total=0
  for pid in $pids; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for system in ${SYSTEMS:-ordo etcd}; do
  start "$system"
  for op in put range; do
    if [ "$op" = put ]; then ratio=0; else ratio=1; fi
    before=$(ticks)
    /usr/bin/time -f "%U %S" -o "$work/time" "$ordo" bench --protocol etcd --endpoints "$endpoints" \
      --connections 4 --clients "$clients" --duration "${secs}s" --warmup 0s --keys 1000 \
      --value-size 100 --read-ratio "$ratio" --consistency linearizable --quiet --json >"$work/run.json"
    after=$(ticks)
    python3 - "$work/run.json" "$work/time" "$system" "$op" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
run_path, time_path, system, op, ticks, hz = sys.argv[1:]
run = json.load(open(run_path))
ops = run["total_ops"]
user, kernel = map(float, open(time_path).read().split()[-2:])
members = int(ticks) / int(hz) * 1e6 / ops
client = (user + kernel) * 1e6 / ops
print(f"{system:4} {op:5}: {run['ops_per_sec']:8.0f} ops/s  members {members:6.1f} us CPU/op"
      f"  client {client:5.1f} us CPU/op  ceiling on 2 cores {2e6 / (members + client) / 1e3:5.1f} k/s")
PY
  done
  stop
done
