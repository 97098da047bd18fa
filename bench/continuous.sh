#!/usr/bin/env bash
# bench/continuous.sh BUILD_DIR: what a running continuous batch adds to a device's
# activation (docs/batches.md, "Continuous batches"), with M registered devices (default
# 1,000,000; BENCH_CONT_M) of one product. Printed as a markdown section for
# docs/benchmarks.md; not part of `make test`.
#
# K devices (BENCH_CONT_K, default 5,000) connect, report their version and leave
# (ota-fleet --activate-only), twice, against the same otad and database:
#   floor     devices a*, tagged hw=v1, with no continuous batch anywhere;
#   measured  devices b*, tagged hw=v2, while a continuous batch with filter hw=v2 runs:
#             every one of them matches and joins it (task inserted, batch counters), the
#             most work a continuous batch adds to an activation.
# The cost of each run is the engine's own time in its rounds (ota_engine_round_seconds_sum
# from /metrics, from before the fleet starts until the engine is idle again) divided by K:
# the presence "on", the version report and the presence "off" of each device, with their
# transactions. Target: measured - floor < 1 ms per activation.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=${BENCH_CONT_M:-1000000}
K=${BENCH_CONT_K:-5000}
OTAD=$BUILD/server/otad
PLUGIN=$BUILD/broker-plugin/ota_auth.so
FLEET=$BUILD/tools/ota-fleet/ota-fleet
OB=$BUILD/bench/ota-bench
for f in "$OTAD" "$PLUGIN" "$FLEET" "$OB"; do
  [ -e "$f" ] || { echo "bench: $f is missing (build first)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "bench: jq is needed" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ota-bench-cont-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "${BENCH_KEEP:-0}" = 1 ] && echo "bench: work folder kept: $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "bench $(date -u +%H:%M:%S) $*" >&2; }

mkdir -p "$WORK/keys"
openssl rand -hex 32 > "$WORK/keys/server.key"
chmod 600 "$WORK/keys/server.key"
BPORT=$($OB port)
OTA_MQTTS_ADDR= OTA_MQTTS_CERT_ADDR= OTA_BROKER_LOG_TYPES="error warning" \
  bash "$ROOT/scripts/broker-conf.sh" "$WORK" 127.0.0.1 "$BPORT" "$PLUGIN" > "$WORK/mosquitto.conf"
/usr/sbin/mosquitto -c "$WORK/mosquitto.conf" > "$WORK/broker.log" 2>&1 &
PIDS+=($!)
HP=$($OB port)
BASE=http://127.0.0.1:$HP
TOKEN=$(openssl rand -hex 20)
OTA_HTTP_ADDR=127.0.0.1:$HP OTA_HTTPS_ADDR= OTA_PUBLIC_URL=$BASE OTA_MQTT_ADDR=127.0.0.1:$BPORT \
  OTA_DATA_DIR=$WORK OTA_ADMIN_TOKEN=$TOKEN OTA_HTTP_MAX_PER_ADDRESS=0 OTA_LOG_LEVEL=warn \
  "$OTAD" >> "$WORK/otad.log" 2>&1 &
OPID=$!
PIDS+=("$OPID")
up=0
for ((i = 0; i < 1200; i++)); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")" = 200 ] && { up=1; break; }
  kill -0 "$OPID" 2>/dev/null || break
  sleep 0.1
done
[ "$up" = 1 ] || { echo "bench: otad did not become healthy" >&2; tail -20 "$WORK/otad.log" >&2; exit 1; }

api() { # METHOD PATH [curl args...]
  local m=$1 p=$2
  shift 2
  curl -sS --fail-with-body -X "$m" -H "Authorization: Bearer $TOKEN" "$@" "$BASE$p"
}
metric() { curl -s "$BASE/metrics" -H "Authorization: Bearer $TOKEN" | awk -v n="$1" '$1 == n {print $2}'; }
# waits until the engine applied no input for 2 s and none is queued
settle() {
  local last="" e q same=0
  while [ "$same" -lt 8 ]; do
    sleep 0.25
    e=$(metric ota_engine_events_total)
    q=$(metric ota_engine_queued)
    if [ "$e" = "$last" ] && [ "$q" = 0 ]; then same=$((same + 1)); else same=0; fi
    last=$e
  done
}
ids_json() { # PREFIX: the K identifiers as a JSON array
  awk -v p="$1" -v k="$K" 'BEGIN { printf "["; for (i = 0; i < k; i++) printf "%s\"%s%06d\"", (i ? "," : ""), p, i; printf "]" }'
}

PK=$(api POST /api/v1/products -H 'Content-Type: application/json' \
  -d '{"productName":"bench_continuous","description":"bench"}' | jq -r .productKey)
log "registering $M devices"
awk -v m="$M" -v k="$K" 'BEGIN {
  for (i = 0; i < k; i++) { printf "{\"identifier\":\"a%06d\",\"deviceName\":\"a\"}\n", i
                            printf "{\"identifier\":\"b%06d\",\"deviceName\":\"b\"}\n", i }
  for (i = 0; i < m - 2 * k; i++) printf "{\"identifier\":\"r%07d\",\"deviceName\":\"r\"}\n", i }' > "$WORK/devices.ndjson"
t0=$(date +%s.%N)
api POST "/api/v1/products/$PK/devices:import" -H 'Content-Type: application/x-ndjson' \
  --data-binary "@$WORK/devices.ndjson" > /dev/null
t1=$(date +%s.%N)
api POST "/api/v1/products/$PK/devices:tag" -H 'Content-Type: application/json' \
  -d "{\"identifiers\":$(ids_json a),\"set\":{\"hw\":\"v1\"}}" > /dev/null
api POST "/api/v1/products/$PK/devices:tag" -H 'Content-Type: application/json' \
  -d "{\"identifiers\":$(ids_json b),\"set\":{\"hw\":\"v2\"}}" > /dev/null
head -c 4096 /dev/urandom > "$WORK/fw.bin"
FW=$(api POST /api/v1/firmwares -F firmwareName=bench_cont -F "productKey=$PK" -F firmwareVersion=2.0.0 \
  -F "file=@$WORK/fw.bin;filename=fw.bin" | jq -r .firmwareId)
FLEET_ARGS=(--api "$BASE" --token "$TOKEN" --key-file "$WORK/keys/server.key" --broker "127.0.0.1:$BPORT"
  --product-key "$PK" -n "$K" --activate-only --connect-rate 2000 --duration 600)

run() { # PREFIX -> "busy_s events wall_s" of activating its K devices
  local b0 e0 b1 e1 w0 w1
  settle
  b0=$(metric ota_engine_round_seconds_sum)
  e0=$(metric ota_engine_events_total)
  w0=$(date +%s.%N)
  "$FLEET" "${FLEET_ARGS[@]}" --prefix "$1" > "$WORK/fleet-$1.out" 2>&1 || { cat "$WORK/fleet-$1.out" >&2; exit 1; }
  settle
  w1=$(date +%s.%N)
  b1=$(metric ota_engine_round_seconds_sum)
  e1=$(metric ota_engine_events_total)
  echo "$(awk "BEGIN { print $b1 - $b0 }") $((${e1%.*} - ${e0%.*})) $(awk "BEGIN { print $w1 - $w0 }")"
}

log "floor: $K activations, no continuous batch"
read -r FB FE FW_S < <(run a)
BID=$(api POST "/api/v1/firmwares/$FW/batches" -H 'Content-Type: application/json' \
  -d '{"scope":"filter","filter":{"tags":{"hw":"v2"}},"continuous":true,"validityDays":1,"policy":"standard","timeoutMinutes":60,"retryTimes":0}' | jq -r .batchId)
log "measured: $K activations that join continuous batch $BID"
read -r MB ME MW_S < <(run b)
JOINED=$(api GET "/api/v1/batches/$BID" | jq -r .total)

per_floor=$(awk "BEGIN { printf \"%.3f\", $FB * 1000 / $K }")
per_meas=$(awk "BEGIN { printf \"%.3f\", $MB * 1000 / $K }")
added=$(awk "BEGIN { printf \"%.3f\", ($MB - $FB) * 1000 / $K }")
ok=$(awk "BEGIN { print ($added < 1 && $JOINED == $K) ? \"yes\" : \"NO\" }")
load=$(cut -d' ' -f1-3 /proc/loadavg)
cat <<EOF
## Continuous batch: what it adds to an activation (bash bench/continuous.sh)

$(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, SQLite; load average at the end: $load.
$M devices registered in one product (NDJSON import: $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s).
$K devices connect, report their version and leave (ota-fleet --activate-only, 2,000
connections/s), first with no continuous batch, then with a continuous batch whose filter
(tag hw=v2) each of them matches, so each one joins it. Engine time is
ota_engine_round_seconds_sum over the run (3 events a device: on, version, off).

| run | engine time | per activation | events | wall time |
|---|---|---|---|---|
| floor: no continuous batch (a*, hw=v1) | $(awk "BEGIN { printf \"%.3f\", $FB }") s | $per_floor ms | $FE | $(awk "BEGIN { printf \"%.1f\", $FW_S }") s |
| continuous batch running, every device joins (b*, hw=v2; $JOINED of $K joined) | $(awk "BEGIN { printf \"%.3f\", $MB }") s | $per_meas ms | $ME | $(awk "BEGIN { printf \"%.1f\", $MW_S }") s |

Added by the continuous batch: **$added ms per activation** (target < 1 ms: $ok).
EOF
