#!/usr/bin/env bash
# Memory per key and restart time of `ordo dev` (3 nodes in one process)
# loaded with N keys of 100-byte values.
#
#   tools/bench-memory.sh ORDO_BINARY KEYS [VALUE_BYTES]
#
# Prints one line: keys, value bytes, resident memory of the process before
# and after the fill (MiB), resident bytes per key per node ((after -
# before) / keys / 3), the seconds `ordo bench fill` took, and the seconds
# from starting `ordo dev` again on the same data until all three nodes
# answer /health with 200. Uses ports 18001-18003/19001-19003 and a
# temporary data directory, removed at the end.
set -euo pipefail
ordo=$1
keys=$2
value_bytes=${3:-100}
data=$(mktemp -d /tmp/ordo-bench-memory.XXXXXX)
pid=
cleanup() {
    if [[ -n $pid ]]; then kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$data"
}
trap cleanup EXIT
endpoints=http://127.0.0.1:18001,http://127.0.0.1:18002,http://127.0.0.1:18003

start() {
    "$ordo" dev --data "$data" --client-port-base 18000 --peer-port-base 19000 \
        >>"$data/dev.log" 2>&1 &
    pid=$!
}
healthy() {
    for port in 18001 18002 18003; do
        curl -fs -o /dev/null "http://127.0.0.1:$port/health" || return 1
    done
}
wait_healthy() {
    local deadline=$((SECONDS + 600))
    until healthy; do
        ((SECONDS < deadline)) || { echo "not healthy in time" >&2; exit 1; }
        sleep 0.05
    done
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

start
wait_healthy
before=$(rss_mib "$pid")
fill_seconds=$("$ordo" bench --endpoints "$endpoints" --keys "$keys" --value-size "$value_bytes" \
    --clients 64 fill | awk -F': ' '/"seconds"/ {gsub(",", "", $2); print $2}')
sleep 2
after=$(rss_mib "$pid")
kill -INT "$pid"; wait "$pid" || true; pid=
started=$(date +%s.%N)
start
wait_healthy
restart=$(echo "$(date +%s.%N) - $started" | bc)
after_restart=$(rss_mib "$pid")
per_key=$(echo "($after - $before) * 1048576 / $keys / 3" | bc)
printf 'keys=%s value_bytes=%s rss_before_mib=%s rss_after_mib=%s rss_after_restart_mib=%s bytes_per_key_per_node=%s fill_s=%.1f restart_to_healthy_s=%.2f\n' \
    "$keys" "$value_bytes" "$before" "$after" "$after_restart" "$per_key" "$fill_seconds" "$restart"
