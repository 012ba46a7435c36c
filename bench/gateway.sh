#!/usr/bin/env bash
# Gateway benchmark: wrk on loopback against the same upstream directly,
# through a bare httputil.ReverseProxy, through the Fusebox gateway, and
# through HAProxy with retries (Debian's haproxy) as a peer, interleaved
# over ROUNDS rounds; then each proxy's peak resident memory while wrk holds
# 1,000 concurrent connections. Every server listens on 127.0.0.1 only and
# is stopped at the end. Needs wrk and haproxy (apt-get install wrk haproxy);
# not part of CI.
#
#   bash bench/gateway.sh            # ROUNDS=3 DURATION=10s CONNS=32 by default
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
BIG=${BIG:-1000}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/gatewaybench" ./cmd/gatewaybench
UP=127.0.0.1:9200
"$work/gatewaybench" upstream -addr $UP & pids+=($!)
"$work/gatewaybench" bare -addr 127.0.0.1:9201 -upstream http://$UP & bare=$!; pids+=($bare)
"$work/gatewaybench" gateway -addr 127.0.0.1:9202 -upstream http://$UP & gw=$!; pids+=($gw)
cat >"$work/haproxy.cfg" <<CFG
global
    maxconn 8000
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    retry-on conn-failure empty-response response-timeout 503 504
    option http-keep-alive
frontend fe
    bind 127.0.0.1:9203
    default_backend be
backend be
    http-reuse always
    server up1 $UP maxconn 2000
CFG
haproxy -db -f "$work/haproxy.cfg" & hap=$!; pids+=($hap)
sleep 1

declare -A url=([direct]=http://$UP/items/7 [bare]=http://127.0.0.1:9201/items/7 [gateway]=http://127.0.0.1:9202/items/7 [haproxy]=http://127.0.0.1:9203/items/7)
order=(direct bare gateway haproxy)

# wrk's --latency lines: "50%  1.23ms"; print microseconds.
us() { awk -v p="$1" '$1==p { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); print v } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000000 } }'; }

echo "# round target rps p50_us p99_us (wrk -t1 -c$CONNS -d$DURATION)"
for r in $(seq "$ROUNDS"); do
  for t in "${order[@]}"; do
    out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${url[$t]}")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(us 50% <<<"$out"); p99=$(us 99% <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/' <<<"$out")
    echo "$r $t $rps $p50 $p99 ${errs}"
  done
done

echo "# peak RSS at $BIG connections (wrk -t2 -c$BIG -d$DURATION): target rps p50_us p99_us vmhwm_kib"
declare -A pid=([bare]=$bare [gateway]=$gw [haproxy]=$hap)
for t in bare gateway haproxy; do
  out=$(wrk -t2 -c"$BIG" -d"$DURATION" --latency "${url[$t]}")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/${pid[$t]}/status")
  echo "$t $rps $(us 50% <<<"$out") $(us 99% <<<"$out") $hwm"
done
