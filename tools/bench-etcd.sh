#!/bin/sh
# `ordo bench --protocol etcd` against 3 ordo members and 3 real etcd 3.4
# members on loopback (default settings, data in a temporary directory under
# /tmp), interleaved: for each round, client count and operation (put of
# 100-byte values, linearizable range of one key), ordo and etcd run back to
# back, alternating which goes first. Prints each run's line, then the
# medians of the rounds (throughput, p50, p99, errors). Stops and deletes
# everything it started, also when interrupted.
#
# usage: tools/bench-etcd.sh [ORDO_BINARY]   (default target/release/ordo)
# settings from the environment: ROUNDS (3), CLIENTS ("1 16 64 256 1024"),
#   SECS measured per run (3), WARMUP per run (1s), CONNECTIONS per
#   endpoint (4), KEYS (1000), OUT (a directory for the JSON of every run;
#   default inside the temporary directory, deleted at the end).
# needs: etcd (Debian's etcd-server; installed with apt-get when missing and
#   running as root), python3 (the medians). Run from the repository root.
set -eu
ordo=${1:-target/release/ordo}
rounds=${ROUNDS:-3}
clients_list=${CLIENTS:-"1 16 64 256 1024"}
secs=${SECS:-3}
warmup=${WARMUP:-1s}
connections=${CONNECTIONS:-4}
keys=${KEYS:-1000}

[ -x "$ordo" ] || { echo "no ordo binary at $ordo (cargo build --release -p ordo-kv --bin ordo)" >&2; exit 1; }
if ! command -v etcd >/dev/null; then
  apt-get update >/dev/null && apt-get install -y etcd-server >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is needed for the medians" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-etcd.XXXXXX)
out=${OUT:-$work/runs}
mkdir -p "$out"
pids=""
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports: ordo clients 23791-23793, peers 23801-23803; etcd 24791-24793, 24801-24803.
ordo_cluster="1=127.0.0.1:23801@http://127.0.0.1:23791,2=127.0.0.1:23802,3=127.0.0.1:23803"
for id in 1 2 3; do
  "$ordo" serve --id "$id" --cluster bench \
    --peer-listen "127.0.0.1:2380$id" --client-listen "127.0.0.1:2379$id" \
    --data "$work/ordo-$id" --initial-cluster "$ordo_cluster" \
    >"$work/ordo-$id.log" 2>&1 &
  pids="$pids $!"
done
etcd_cluster="e1=http://127.0.0.1:24801,e2=http://127.0.0.1:24802,e3=http://127.0.0.1:24803"
for id in 1 2 3; do
  etcd --name "e$id" --data-dir "$work/etcd-$id" \
    --listen-client-urls "http://127.0.0.1:2479$id" --advertise-client-urls "http://127.0.0.1:2479$id" \
    --listen-peer-urls "http://127.0.0.1:2480$id" --initial-advertise-peer-urls "http://127.0.0.1:2480$id" \
    --initial-cluster "$etcd_cluster" --initial-cluster-state new --initial-cluster-token bench \
    >"$work/etcd-$id.log" 2>&1 &
  pids="$pids $!"
done
ordo_endpoints="http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793"
etcd_endpoints="http://127.0.0.1:24791,http://127.0.0.1:24792,http://127.0.0.1:24793"

# Both are ready once a put through their etcd API succeeds (within 30 s).
for endpoints in "$ordo_endpoints" "$etcd_endpoints"; do
  tries=0
  until ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --command-timeout 2s put ready yes >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "no leader at $endpoints after 30 s; logs in $work" >&2
      tail -n 5 "$work"/*.log >&2
      exit 1
    fi
    sleep 0.5
  done
done

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then order="ordo etcd"; else order="etcd ordo"; fi
  for clients in $clients_list; do
    for op in put range; do
      if [ "$op" = put ]; then ratio=0; else ratio=1; fi
      for system in $order; do
        if [ "$system" = ordo ]; then endpoints=$ordo_endpoints; else endpoints=$etcd_endpoints; fi
        file="$out/$system-$op-$clients-$round.json"
        "$ordo" bench --protocol etcd --endpoints "$endpoints" --connections "$connections" \
          --clients "$clients" --duration "${secs}s" --warmup "$warmup" --keys "$keys" \
          --value-size 100 --read-ratio "$ratio" --consistency linearizable --quiet --json \
          >"$file" 2>"$file.err" || echo "{}" >"$file"
        python3 - "$file" "$system" "$op" "$clients" "$round" <<'EOF'
import json, sys
path, system, op, clients, round_ = sys.argv[1:]
run = json.load(open(path))
side = run.get("writes" if op == "put" else "reads", {})
errors = sum(run.get("errors", {}).values()) if run else "failed"
print(f"round {round_} {system:4} {op:5} {clients:>4} clients: {run.get('ops_per_sec', 0):9.0f} ops/s"
      f"  p50 {side.get('p50_us', 0):>7} us  p99 {side.get('p99_us', 0):>7} us  errors {errors}")
EOF
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$out" "$clients_list" <<'EOF'
import json, os, statistics, sys
out, clients_list = sys.argv[1], sys.argv[2].split()
def runs(system, op, clients):
    found = []
    for name in sorted(os.listdir(out)):
        if name.startswith(f"{system}-{op}-{clients}-") and name.endswith(".json"):
            run = json.load(open(os.path.join(out, name)))
            side = run.get("writes" if op == "put" else "reads", {})
            found.append((run.get("ops_per_sec", 0.0), side.get("p50_us", 0), side.get("p99_us", 0),
                          sum(run.get("errors", {}).values()) if run else -1))
    return found
def median(values):
    return statistics.median(values) if values else 0
print()
print("| op | clients | ordo ops/s | etcd ops/s | ordo / etcd | ordo p50 | etcd p50 | ordo p99 | etcd p99 | ordo p99 / etcd p99 | errors ordo, etcd |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for op in ("put", "range"):
    for clients in clients_list:
        o, e = runs("ordo", op, clients), runs("etcd", op, clients)
        o_ops, e_ops = median([r[0] for r in o]), median([r[0] for r in e])
        o_p50, e_p50 = median([r[1] for r in o]), median([r[1] for r in e])
        o_p99, e_p99 = median([r[2] for r in o]), median([r[2] for r in e])
        ratio = f"{o_ops / e_ops:.2f}x" if e_ops else "-"
        p99_ratio = f"{o_p99 / e_p99:.2f}" if e_p99 else "-"
        errors = f"{sum(r[3] for r in o)}, {sum(r[3] for r in e)}"
        print(f"| {op} | {clients} | {o_ops:.0f} ({', '.join(f'{r[0]:.0f}' for r in o)}) "
              f"| {e_ops:.0f} ({', '.join(f'{r[0]:.0f}' for r in e)}) | {ratio} "
              f"| {o_p50 / 1000:.2f} ms | {e_p50 / 1000:.2f} ms | {o_p99 / 1000:.2f} ms | {e_p99 / 1000:.2f} ms "
              f"| {p99_ratio} | {errors} |")
EOF
