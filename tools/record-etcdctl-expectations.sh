#!/bin/sh
# Records what etcdctl prints against a real etcd 3.4, for
# `crates/ordo-kv/tests/etcdctl_compat.rs` to compare ordo's output with.
#
# Starts etcd members on free loopback ports in a temporary directory (3
# members with default settings; 1 member with a 256 KiB quota for the alarm
# transcript), then runs the test's own command lists against them in record
# mode (ORDO_ETCDCTL_RECORD_ENDPOINTS): each command's exit status, stdout
# and stderr (less the client library's JSON log lines) are written to
# crates/ordo-kv/tests/etcdctl_expected/SCENARIO/, with the ids the
# normalization needs in context.txt. Stops and deletes everything it
# started, also when interrupted.
#
# usage: tools/record-etcdctl-expectations.sh [SCENARIO...]
#   scenarios: commands (the main list), alarm, check-perf (~70 s);
#   default: all three. Run from the repository root.
# needs: etcd and etcdctl 3.4 (Debian's etcd-server and etcd-client), python3.
set -eu
scenarios=${*:-"commands alarm check-perf"}
command -v etcd >/dev/null || { echo "etcd is needed (apt-get install etcd-server)" >&2; exit 1; }
command -v etcdctl >/dev/null || { echo "etcdctl is needed (apt-get install etcd-client)" >&2; exit 1; }

work=$(mktemp -d /tmp/etcdctl-record.XXXXXX)
pids=""
stop_members() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  pids=""
}
trap 'stop_members; rm -rf "$work"' EXIT INT TERM

# Free ports, asked of the kernel.
free_ports() {
  python3 -c 'import socket,sys
socks=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# start_members COUNT [ETCD FLAGS...]: sets $endpoints (HOST:PORT,...).
start_members() {
  count=$1; shift
  set -- "$@"
  ports=$(free_ports $((count * 2)))
  initial=""; endpoints=""; i=1
  for port in $ports; do
    if [ $((i % 2)) -eq 1 ]; then peer=$port; else
      id=$((i / 2))
      initial="$initial${initial:+,}node-$id=http://127.0.0.1:$peer"
      endpoints="$endpoints${endpoints:+,}127.0.0.1:$port"
      eval "peer_$id=$peer; client_$id=$port"
    fi
    i=$((i + 1))
  done
  id=1
  while [ "$id" -le "$count" ]; do
    eval "peer=\$peer_$id; client=\$client_$id"
    etcd --name "node-$id" --data-dir "$work/etcd-$id" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
      --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token record \
      "$@" >"$work/etcd-$id.log" 2>&1 &
    pids="$pids $!"
    id=$((id + 1))
  done
  tries=0
  until ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { cat "$work"/etcd-*.log >&2; echo "etcd did not become healthy" >&2; exit 1; }
    sleep 0.5
  done
  # etcd refuses membership changes ("unhealthy cluster") until every
  # member has been connected for 5 s.
  sleep 6
}

record() {
  ORDO_ETCDCTL_RECORD_ENDPOINTS=$endpoints ORDO_ETCDCTL_RECORD_DIR=$work \
    cargo test -p ordo-kv --test etcdctl_compat -- --exact --include-ignored --nocapture "$1"
}

for scenario in $scenarios; do
  rm -rf "$work"/etcd-*
  case $scenario in
    commands) start_members 3; record etcdctl_prints_what_etcd_prints ;;
    alarm) start_members 1 --quota-backend-bytes=262144; record etcdctl_alarm_prints_what_etcd_prints ;;
    check-perf) start_members 3; record etcdctl_check_perf_prints_what_etcd_prints ;;
    *) echo "unknown scenario $scenario" >&2; exit 1 ;;
  esac
  stop_members
done
