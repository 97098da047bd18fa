#!/usr/bin/env bash
# bench/run.sh BUILD_DIR: the benchmarks of docs/benchmarks.md (`make bench`; not in `make test`).
# Each figure is measured next to its floor in the same run and reported as a ratio in
# docs/benchmarks.md (or $BENCH_OUT), with the machine, the versions and the command.
#
#   1 rollout      a batch to N devices that all succeed, create -> completed (devices/min);
#                  floor: the same exchange through the same broker with ota-fleet-responder
#   1c the broker's ceiling: the rollout's QoS 1 messages through that broker with nobody
#                  waiting (ota-bench mqtt-ceiling); the floor must beat figure 1
#   2 batch create scope "all" over M activated devices; floor: the same task rows into
#                  SQLite in one transaction (ota-bench sqlite-insert)
#   3 download     100 MB firmware to 64 concurrent clients; floor: nginx, same file, same client
#   4 upload       100 MB firmware (hashing included); floor: openssl md5 + sha256 + copy (fsync)
#   5 memory       otad RSS per device while the M-device batch runs
#   6 API          p50/p99 of the batch header and of one page of its devices during that batch
#   7 rollout on PostgreSQL: figure 1 again with OTA_DB=postgresql://..., with one otad and
#                  with two (OTA_INSTANCE a and b on one database), next to figure 1's floor
#   8 listener     p50/p99 of health and of an API call while BENCH_SLOW_N (10,000) slow
#                  downloads of the 100 MB firmware are held; floor: the same on the idle
#                  listener (needs 4's upload)
#   1p rollout in phases: figure 1 again (same otad) as a batch of 3 phases (10 %, 30 %, the
#                  rest) with an abort rule that does not fire; the rate inside each phase (from
#                  the devices' finishTime, phase_rates): target >= 0.9 of figure 1's rate for
#                  the slowest phase; the whole batch's rate is reported next to it
#   1a abort latency: figure 1p's batch (3 phases, a rule on flash_failed at 50 % after M =
#                  N/20 finished) to N devices that all fail flashing: from the M-th failure
#                  report the devices published (their clock, same machine) to the batch seen
#                  `paused` by a client polling GET /batches/{id} every 20 ms (target <= 1 s)
#                  and to the batch.paused webhook arriving at ota-bench sink (reported)
#   1w rollout with a webhook: figure 1 again (same otad) with a webhook subscribed to every
#                  event ("*", grouping at its defaults) whose receiver (ota-bench sink)
#                  answers each delivery after 5 s; next to figure 1: target >= 0.9 of its rate.
#                  Also reports the deliveries made during the batch and the backlog at its end
#   9 hawkBit DDI: polls/s of BENCH_DDI_N (100,000) registered devices on BENCH_DDI_C (1,000)
#                  keep-alive connections (wrk, bench/ddi.lua), floor: nginx serving a file of the
#                  poll answer's size to the same requests (target >= 0.5), p99; and a rollout
#                  to BENCH_DDI_ROLL_N (10,000) DDI devices (ota-fleet --ddi) in devices/min
#   1t rollout over TLS: figure 1 again with every device on MQTT/TLS (the broker's TLS
#                  listener, the certificates otad --init-only generates, ota-fleet --cafile),
#                  next to figure 1 (plain): target >= 0.6 of its rate
# Every rollout (1 and 7) also reports the CPU each process took during its batch (sampled
# from /proc), and with BENCH_PERF=1 a system-wide `perf record` of it and each otad
# thread's socket calls ($WORK/perf-*.txt).
#
# Sizes: N = 10,000 and M = 100,000 by default (about 10 minutes); BENCH_FULL=1 gives the
# issue's N = 100,000 and M = 1,000,000. Overrides: BENCH_ROLLOUT_N, BENCH_BATCH_N,
# BENCH_FIGURES="1 3 4" (2 is needed by 5 and 6), BENCH_OUT=file, BENCH_KEEP=1 keeps the
# work folder (and figure 7's databases), BENCH_PG_OTAD="1" runs figure 7a alone. Figure 7 needs a PostgreSQL in which it may create databases: BENCH_PG_URL
# (default: the local cluster's socket, as scripts/pg-test.sh sets it up); it is skipped
# when that does not answer. Everything runs on 127.0.0.1 on free ports in a temp folder; nothing is left
# running. Needs root only to apt-get install nginx when it is missing.
set -euo pipefail

BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FULL=${BENCH_FULL:-0}
if [ "$FULL" = 1 ]; then N_ROLL_D=100000; N_BATCH_D=1000000; else N_ROLL_D=10000; N_BATCH_D=100000; fi
N_ROLL=${BENCH_ROLLOUT_N:-$N_ROLL_D}
N_BATCH=${BENCH_BATCH_N:-$N_BATCH_D}
PG_OTAD=${BENCH_PG_OTAD:-"1 2"}  # figure 7's runs: "1" measures 7a alone (one otad)
FIGURES=${BENCH_FIGURES:-"1 1p 1a 1w 1t 2 3 4 5 6 7 8"}
PGADMIN=${BENCH_PG_URL:-postgresql:///postgres?host=/var/run/postgresql&port=5432}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
FW_BYTES=104857600
CMDLINE="${BENCH_CMDLINE:-make bench${BENCH_FULL:+ BENCH_FULL=$BENCH_FULL}}"

OTAD=$BUILD/server/otad
PLUGIN=$BUILD/broker-plugin/ota_auth.so
FLEET=$BUILD/tools/ota-fleet/ota-fleet
RESP=$BUILD/tools/ota-fleet/ota-fleet-responder
OB=$BUILD/bench/ota-bench
for f in "$OTAD" "$PLUGIN" "$FLEET" "$RESP" "$OB"; do
  [ -e "$f" ] || { echo "bench: $f is missing (build first)" >&2; exit 2; }
done
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "bench: installing nginx (the download floor)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q nginx >/dev/null; else sudo apt-get install -y -q nginx >/dev/null; fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v jq >/dev/null || { echo "bench: installing jq"; apt-get install -y -q jq >/dev/null; }
# BENCH_MAX_CONNECTED: cap the devices connected at once (to try the churn path at small size)
MAXC=()
[ -n "${BENCH_MAX_CONNECTED:-}" ] && MAXC=(--max-connected "$BENCH_MAX_CONNECTED")

# as many descriptors as allowed: every device is one connection at the fleet and the broker
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

WORK=$(mktemp -d /tmp/ota-bench-XXXXXX)
chmod 755 "$WORK"
PIDS=()
PG_DBS=()  # databases made for figure 7, dropped at the end
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for db in "${PG_DBS[@]}"; do
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: PostgreSQL database kept: $db"; continue; fi
    psql -X -q -d "$PGADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench $(date -u +%H:%M:%S) $*" >&2; }
now() { date +%s.%N; }
fcalc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
jget() { jq -r "$1" "$2"; }

wait_tcp() { # port timeout_s
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# start_broker DIR [tls] -> sets BPORT; the project's configuration and plugin
# (scripts/broker-conf.sh). With "tls": also a TLS listener on BTLSPORT, with the CA and
# server certificate otad --init-only makes in DIR/keys (as make run does)
start_broker() {
  local dir=$1 mqtts=""
  mkdir -p "$dir/keys"
  [ -f "$dir/keys/server.key" ] || { openssl rand -hex 32 > "$dir/keys/server.key"; chmod 600 "$dir/keys/server.key"; }
  BPORT=$($OB port)
  if [ "${2:-}" = tls ]; then
    BTLSPORT=$($OB port)
    mqtts=127.0.0.1:$BTLSPORT
    OTA_DATA_DIR=$dir OTA_HTTPS_ADDR= OTA_MQTTS_ADDR=$mqtts OTA_ADMIN_TOKEN=$(openssl rand -hex 20) \
      "$OTAD" --init-only > "$dir/init.log" 2>&1 || { cat "$dir/init.log" >&2; exit 1; }
  fi
  OTA_MQTTS_ADDR=$mqtts OTA_MQTTS_CERT_ADDR= OTA_BROKER_LOG_TYPES="error warning" bash "$ROOT/scripts/broker-conf.sh" "$dir" 127.0.0.1 "$BPORT" "$PLUGIN" \
    | grep -v '^connection_messages' > "$dir/mosquitto.conf"
  echo "connection_messages false" >> "$dir/mosquitto.conf"
  /usr/sbin/mosquitto -c "$dir/mosquitto.conf" > "$dir/broker.log" 2>&1 &
  BPID=$!
  PIDS+=("$BPID")
  wait_tcp "$BPORT" 10 || { echo "bench: broker did not start" >&2; tail "$dir/broker.log" >&2; exit 1; }
}

# start_otad DIR BROKER_PORT [INSTANCE] -> sets BASE, OPID and TOKEN (a new one unless
# INSTANCE is given: instances of one setup share theirs); OTA_DB=$OTAD_DB when that is set
OTAD_DB=""
start_otad() {
  local dir=$1 inst=${3:-} hp i envs=()
  hp=$($OB port)
  BASE=http://127.0.0.1:$hp
  [ -n "$inst" ] || TOKEN=$(openssl rand -hex 20)
  [ -n "$OTAD_DB" ] && envs+=("OTA_DB=$OTAD_DB")
  [ -n "$inst" ] && envs+=("OTA_INSTANCE=$inst")
  env "${envs[@]}" OTA_HTTP_ADDR=127.0.0.1:$hp OTA_HTTPS_ADDR= OTA_PUBLIC_URL=$BASE OTA_MQTT_ADDR=127.0.0.1:$2 OTA_DATA_DIR=$dir \
    OTA_ADMIN_TOKEN=$TOKEN OTA_HTTP_MAX_PER_ADDRESS=0 OTA_LOG_LEVEL=${BENCH_OTAD_LOG:-warn} "$OTAD" >> "$dir/otad${inst:+-$inst}.log" 2>&1 &
  OPID=$!
  PIDS+=("$OPID")
  for ((i = 0; i < 600; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")" = 200 ] && return 0
    kill -0 "$OPID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: otad did not become healthy" >&2
  tail -20 "$dir/otad${inst:+-$inst}.log" >&2
  exit 1
}

api() { # METHOD PATH [curl args...]: prints the body, fails on HTTP >= 400
  local m=$1 p=$2
  shift 2
  curl -sS --fail-with-body -X "$m" -H "Authorization: Bearer $TOKEN" "$@" "$BASE$p"
}

upload_fw() { # PK NAME VERSION FILE FILENAME -> firmware JSON on stdout
  api POST /api/v1/firmwares -F "firmwareName=$2" -F "productKey=$1" -F "firmwareVersion=$3" \
    -F "file=@$4;filename=$5"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# wait until the server counts N eligible devices for the firmware (activation is asynchronous)
wait_eligible() { # FWID N TIMEOUT_S
  local i t
  for ((i = 0; i < $3 * 2; i++)); do
    t=$(api GET "/api/v1/firmwares/$1/eligible-devices?pageSize=1" | jq -r .total)
    [ "$t" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.5
  done
  log "only $t of $2 devices eligible"
  return 1
}

has() { case " $FIGURES " in *" $1 "*) return 0;; esac; return 1; }

# cpu_sampler_start FILE "PID=ROLE ...": every 0.2 s, appends "unix_ms role ticks pid" for
# the given processes (and "unix_ms thread:role ticks tid" for each of their threads), for
# every postgres and ota-fleet process, and "unix_ms machine busy total" from /proc/stat.
# cpu_sampler_stop ends it.
CPU_SPID=""
cpu_sampler_start() { # ota-bench cpu-sample (bench/cpusample.c): no process forked per sample
  # shellcheck disable=SC2086 # the map is a list of words
  "$OB" cpu-sample "$1" 200 $2 &
  CPU_SPID=$!
}
cpu_sampler_stop() {
  if [ -n "$CPU_SPID" ]; then
    kill "$CPU_SPID" 2>/dev/null || true
    wait "$CPU_SPID" 2>/dev/null || true
  fi
  CPU_SPID=""
}
# cpu_window FILE FROM_MS TO_MS -> "role 85%, role 40%, ...; whole machine 190% of 200%;
# busiest thread: role 60% (name), ...; threads: role name 30% name 20% ...": the CPU each
# role took between the two times, in % of one core (sampled every 0.2 s: +-0.2 s), and for
# each role with named threads, its threads by name (busiest first, those of 1 % and more)
cpu_window() {
  # first pass: the sample times that bracket the window (ta: the last sample at or before
  # FROM, else the first one; tb: the last at or before TO); second: the deltas between them
  awk -v a="$2" -v b="$3" -v ncpu="$(nproc)" -v hz="$(getconf CLK_TCK)" '
    NR == FNR { if ($1 <= a && $1 > ta) ta = $1; if (tmin == "" || $1 < tmin) tmin = $1
                if ($1 <= b && $1 > tb) tb = $1; next }
    FNR == 1 && ta == "" { ta = tmin }
    $1 < ta || $1 > tb { next }
    $2 == "machine" { if ($1 == ta) { mb0 = $3; mt0 = $4 } if ($1 == tb) { mb1 = $3; mt1 = $4 } next }
    { k = $2 " " $4; if (!(k in v0)) v0[k] = $3; v1[k] = $3; if (NF >= 5) tn[k] = $5 }
    END { secs = (tb - ta) / 1000; if (secs <= 0) { print "no samples in the window"; exit }
          for (k in v1) { split(k, p, " "); d = v1[k] - v0[k]
                          if (p[1] ~ /^thread:/) { r = substr(p[1], 8); if (d > tmax[r]) { tmax[r] = d; tmaxn[r] = tn[k] }
                                                   if (k in tn) { byname[r, tn[k]] += d; roles[r] = 1 } } else cpu[p[1]] += d
                          if (p[1] == "postgres" && d > pgmax) pgmax = d }
          n = 0; for (r in cpu) { n++; name[n] = r }
          for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (cpu[name[j]] > cpu[name[i]]) { t = name[i]; name[i] = name[j]; name[j] = t }
          out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? ", " : "") sprintf("%s %.0f%%", name[i], cpu[name[i]] / hz / secs * 100)
          if (mt1 > mt0) out = out sprintf("; whole machine %.0f%% of %d%%", (mb1 - mb0) / (mt1 - mt0) * 100 * ncpu, 100 * ncpu)
          sep = "; busiest thread: "
          for (r in tmax) { out = out sep sprintf("%s %.0f%%%s", r, tmax[r] / hz / secs * 100, tmaxn[r] != "" ? " (" tmaxn[r] ")" : ""); sep = ", " }
          sep = "; threads: "
          for (r in roles) { m = 0; for (rk in byname) { split(rk, q, SUBSEP); if (q[1] == r && byname[rk] / hz / secs >= 0.01) { m++; tk[m] = q[2]; tv[m] = byname[rk] } }
                             for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (tv[j] > tv[i]) { t = tk[i]; tk[i] = tk[j]; tk[j] = t; t = tv[i]; tv[i] = tv[j]; tv[j] = t }
                             if (m == 0) continue
                             out = out sep r; sep = ", "
                             for (i = 1; i <= m; i++) out = out sprintf(" %s %.0f%%", tk[i], tv[i] / hz / secs * 100) }
          if (pgmax > 0) out = out sprintf("; busiest postgres process %.0f%%", pgmax / hz / secs * 100)
          print out sprintf(" (%.1f s sampled)", secs) }' "$1" "$1"
}

# rollout TAG API_URLS BROKER_PORT KEY_FILE "PID=ROLE ...": on the running broker and
# otad(s) (setup through $BASE with $TOKEN; ota-fleet gets API_URLS), a new product of N_ROLL
# devices, registered and activated, then the timed batch (ota-fleet --batch). Its summary
# goes to $WORK/rollout-TAG.json, the CPU samples to $WORK/cpu-TAG.txt.
RTO=${BENCH_ROLLOUT_TIMEOUT:-900}
FLEET_TLS=() # --cafile CA: the devices speak MQTT/TLS (figure 1t)
FLEET_BATCH=() # more ota-fleet options for the timed batch only (figure 1a: failing devices)
# metric_sum NAME APIS: a counter of /metrics so far, summed over the comma-separated otad
# base URLs (ota_store_round_trips_total: the engine's round trips to the database, 0 on
# SQLite; ota_engine_push_hold_seconds_total: how long its pushes were held)
metric_sum() {
  local sum=0 b v
  for b in ${2//,/ }; do
    v=$(curl -sS -H "Authorization: Bearer $TOKEN" "$b/metrics" | awk -v m="$1" '$1 == m { print $2 }')
    sum=$(fcalc "$sum + ${v:-0}" 3)
  done
  echo "$sum"
}
round_trips() { fcalc "$(metric_sum ota_store_round_trips_total "$1")" 0; }

rollout() {
  local tag=$1 apis=$2 bport=$3 key=$4 map=$5 pk fw perf_pid="" stat_pid="" rt0 hold0
  local common=(--api "$apis" --token "$TOKEN" --key-file "$key" --broker "127.0.0.1:$bport" "${FLEET_TLS[@]}")
  pk=$(api POST /api/v1/products -H 'Content-Type: application/json' \
    -d "{\"productName\":\"bench_rollout_$tag\",\"description\":\"bench\"}" | jq -r .productKey)
  fw=$(upload_fw "$pk" "bench_rollout_fw_$tag" 2.0.0 "$WORK/fw_small.bin" fw_small.bin | jq -r .firmwareId)
  "$FLEET" "${common[@]}" --product-key "$pk" -n "$N_ROLL" --prefix r --register --activate-only \
    --connect-rate 5000 --duration 1200 > "$WORK/activate-$tag.out" 2>&1 || { cat "$WORK/activate-$tag.out" >&2; exit 1; }
  wait_eligible "$fw" "$N_ROLL" 300
  cpu_sampler_start "$WORK/cpu-$tag.txt" "$map"
  if [ "${BENCH_PERF:-0}" = 1 ]; then
    perf record -a -F "${BENCH_PERF_FREQ:-199}" -o "$WORK/perf-$tag.data" > /dev/null 2>&1 &
    perf_pid=$!
    # socket calls of each otad thread: libpq sends with send() and reads with recv(), so a
    # thread's recvfrom count is about its round trips to PostgreSQL (libmosquitto reads with read())
    perf stat --per-thread -e "${BENCH_PERF_EVENTS:-syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom}" \
      -p "$(printf '%s\n' $map | grep '=otad' | cut -d= -f1 | paste -sd,)" -o "$WORK/perf-stat-$tag.txt" > /dev/null 2>&1 &
    stat_pid=$!
  fi
  rt0=$(round_trips "$apis")
  rd0=$(metric_sum ota_engine_rounds_total "$apis")
  hold0=$(metric_sum ota_engine_push_hold_seconds_total "$apis")
  "$FLEET" "${common[@]}" --product-key "$pk" -n "$N_ROLL" --prefix r --download 0 "${MAXC[@]}" \
    "${FLEET_BATCH[@]}" --connect-rate 10000 --batch "$fw" --batch-json "${ROLL_JSON:-{\"maxPushPerMinute\":1000000\}}" \
    --summary-json "$WORK/rollout-$tag.json" --duration "$RTO" > "$WORK/rollout-$tag.out" 2>&1 || true
  # per device over the fleet's run: its connection, version report and batch
  R[${tag}_rt]=$(fcalc "($(round_trips "$apis") - $rt0) / $N_ROLL" 2)
  # the engine's rounds (transactions) over the same run, per 1,000 devices
  R[${tag}_rounds]=$(fcalc "($(metric_sum ota_engine_rounds_total "$apis") - $rd0) * 1000 / $N_ROLL" 1)
  # seconds the engine held its pushes back during the fleet's run (pushes_held, engine.c)
  R[${tag}_hold]=$(fcalc "$(metric_sum ota_engine_push_hold_seconds_total "$apis") - $hold0" 1)
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" "$stat_pid"; wait "$perf_pid" "$stat_pid" 2>/dev/null || true
    perf report -i "$WORK/perf-$tag.data" --stdio --sort comm,dso --percent-limit 1 > "$WORK/perf-$tag.txt" 2>/dev/null || true
    perf report -i "$WORK/perf-$tag.data" --stdio --sort comm,dso,sym --percent-limit 0.5 > "$WORK/perf-$tag-sym.txt" 2>/dev/null || true
  fi
  cpu_sampler_stop
  cat "$WORK/rollout-$tag.out" >&2
}

# rollout_results TAG KEY: R[KEY_rate], R[KEY_ms], ... from rollout TAG's summary
rollout_results() {
  local j=$WORK/rollout-$1.json k=$2
  R[${k}_rate]=$(jget '.batch.devicesPerMinute // 0' "$j")
  R[${k}_ms]=$(jget '.batch.createToEndMs // -1' "$j")
  R[${k}_state]=$(jget '.batch.state // "none"' "$j")
  R[${k}_ok]=$(jget '.batch.succeeded // 0' "$j")
  R[${k}_failed]=$(jget '.batch.failed // 0' "$j")
  R[${k}_peak]=$(jget '.peakConnected // 0' "$j")
  R[${k}_server_ms]=$(jget '.batch.serverMs // -1' "$j")
  R[${k}_dups]=$(jget '.duplicatePushes // 0' "$j")
  R[${k}_cpu]=$(cpu_window "$WORK/cpu-$1.txt" "$(jget '.batch.createUnixMs // 0' "$j")" "$(jget '.batch.endUnixMs // 0' "$j")")
  # why devices failed, as the API tells (first 1,000 failed devices)
  R[${k}_why]=""
  if [ "${R[${k}_failed]}" != 0 ]; then
    R[${k}_why]=$(api GET "/api/v1/batches/$(jget '.batch.batchId' "$j")/devices?upgradeState=failed&pageSize=1000" |
      jq -r '[.items[].failReason] | group_by(.) | map("\(.[0]) \(length)") | join(", ")' || true)
    [ -n "${R[${k}_why]}" ] && R[${k}_why]=" (${R[${k}_why]})"
  fi
}

# phase_rates BATCH KEY: the rate inside each phase of a finished batch whose phases ran one
# after another (each started by the event that finished the last device of the one before):
# the devices' finishTime in order, the first `devices` of phase 1 being phase 1's, and so on;
# a phase's time runs from its start (the batch's startTime, then the previous phase's last
# finish) to its own last finish. R[KEY_phase_rates] "r1/r2/r3" (devices/min), R[KEY_phase_ms]
# "ms1/ms2/ms3", R[KEY_phase_min] the slowest phase's rate (0 when unreadable).
phase_rates() {
  local id=$1 k=$2 h after="" page fin=$WORK/finish-$2.txt
  R[${k}_phase_rates]="?" R[${k}_phase_ms]="?" R[${k}_phase_min]=0
  [ -n "$id" ] || return 0
  h=$(api GET "/api/v1/batches/$id") || return 0
  : > "$fin"
  while :; do
    page=$(api GET "/api/v1/batches/$id/devices?pageSize=1000${after:+&after=$after}") || return 0
    # ISO time with milliseconds to Unix ms
    jq -r '.items[].finishTime // empty | ((.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber))' <<< "$page" >> "$fin"
    after=$(jq -r '.nextCursor // empty' <<< "$page")
    [ -n "$after" ] || break
  done
  local out
  out=$(sort -n "$fin" | awk -v sizes="$(jq -r '[.phases[].devices] | join(" ")' <<< "$h")" \
    -v start="$(jq -r '.startTime | ((.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber))' <<< "$h")" '
    BEGIN { n = split(sizes, sz, " "); p = 1; left = sz[1]; t0 = start; min = -1 }
    { last = $1; if (--left == 0 && p <= n) { ms = last - t0; if (ms < 1) ms = 1
        r = sz[p] * 60000 / ms; rates = rates (p > 1 ? "/" : "") sprintf("%.0f", r)
        mss = mss (p > 1 ? "/" : "") ms; if (min < 0 || r < min) min = r
        t0 = last; p++; left = sz[p] } }
    END { if (p <= n) print "? ? 0"; else printf "%s %s %.0f\n", rates, mss, min }')
  read -r R[${k}_phase_rates] R[${k}_phase_ms] R[${k}_phase_min] <<< "$out"
}

# The floor (of 1 and 7): its own broker (same configuration and plugin), the responder instead
# of otad (its own MQTT wire code, nothing waits). floor_run RUN runs it once (a new product
# each time) and keeps the fastest of the runs in R[floor_*]: it runs once before figure 1 and
# twice after 1t, so that a machine busy with other work during one of them does not lower the
# limit the rollouts are held to. Run n reads on the n-th of BENCH_FLOOR_CONNECTIONS (default
# "1 4 1") connections of one shared subscription: one or several, whichever is faster here.
# floor_ceiling then measures, on the same broker, its ceiling: the same messages with nobody
# waiting for anything (ota-bench mqtt-ceiling), twice.
FLOOR=$WORK/floor
FLOOR_BPID=""
read -r -a FLOOR_CONNS <<< "${BENCH_FLOOR_CONNECTIONS:-1 4 1}"
floor_run() {
  local run=$1 i j rate k
  if [ -z "$FLOOR_BPID" ]; then
    start_broker "$FLOOR"
    FLOOR_BPID=$BPID FLOOR_BPORT=$BPORT
  fi
  FLOOR_WAVE=$N_ROLL
  [ "$FLOOR_WAVE" -gt $((NOFILE - 300)) ] && FLOOR_WAVE=$((NOFILE - 300))
  [ -n "${BENCH_MAX_CONNECTED:-}" ] && [ "$FLOOR_WAVE" -gt "$BENCH_MAX_CONNECTED" ] && FLOOR_WAVE=$BENCH_MAX_CONNECTED
  k=${FLOOR_CONNS[$(((run - 1) % ${#FLOOR_CONNS[@]}))]}
  log "floor of the rollout (run $run): $N_ROLL devices, $k connection(s)"
  j=$WORK/floor-$run.json
  "$RESP" --broker "127.0.0.1:$FLOOR_BPORT" --key-file "$FLOOR/keys/server.key" --product-key "flr$run" -n "$N_ROLL" \
    --connections "$k" --start-after "$FLOOR_WAVE" --url "$BASE/none" --size 65536 \
    --summary-json "$j" --duration "$RTO" > "$WORK/responder-$run.out" 2>&1 &
  RPID=$!
  PIDS+=("$RPID")
  for ((i = 0; i < 200; i++)); do grep -q "^responder subscribed" "$WORK/responder-$run.out" 2>/dev/null && break; sleep 0.05; done
  cpu_sampler_start "$WORK/cpu-floor-$run.txt" "$FLOOR_BPID=broker $RPID=responder"
  "$FLEET" --key-file "$FLOOR/keys/server.key" --broker "127.0.0.1:$FLOOR_BPORT" --product-key "flr$run" -n "$N_ROLL" \
    --prefix r --download 0 "${MAXC[@]}" --connect-rate 10000 --summary-json "$WORK/floor-fleet-$run.json" --duration "$RTO" \
    > "$WORK/floor-fleet-$run.out" 2>&1 || true
  wait "$RPID" || true
  cpu_sampler_stop
  cat "$WORK/responder-$run.out" >&2
  rate=$(jget '.devicesPerMinute // 0' "$j")
  R[floor_runs]="${R[floor_runs]:+${R[floor_runs]}, }$(fcalc "$rate" 0) ($k conn.)"
  if awk "BEGIN { exit !($rate > ${R[floor_rate]:-0}) }"; then
    R[floor_rate]=$rate
    R[floor_ms]=$(jget '.startToDoneMs // -1' "$j")
    R[floor_cpu]=$(cpu_window "$WORK/cpu-floor-$run.txt" "$(jget '.startUnixMs // 0' "$j")" "$(jget '.endUnixMs // 0' "$j")")
  fi
}
floor_ceiling() { # RUN: like the floor, the faster run counts
  local run=$1 j=$WORK/ceiling-$1.json
  log "broker ceiling (run $run): $FLOOR_WAVE devices"
  if "$OB" mqtt-ceiling --broker "127.0.0.1:$FLOOR_BPORT" --key-file "$FLOOR/keys/server.key" -n "$FLOOR_WAVE" \
    --product-key "ceil$run" > "$j" 2> "$WORK/ceiling-$run.err"; then
    R[ceil_runs]="${R[ceil_runs]:+${R[ceil_runs]}, }$(fcalc "$(jget .messagesPerSecond "$j")" 0)"
    if awk "BEGIN { exit !($(jget .messagesPerSecond "$j") > ${R[ceil_mps]:-0}) }"; then
      R[ceil_mps]=$(jget .messagesPerSecond "$j")
      R[ceil_rate]=$(jget .devicesPerMinute "$j")
      R[ceil_ms]=$(jget .ms "$j")
      R[ceil_n]=$FLOOR_WAVE
    fi
  else
    cat "$WORK/ceiling-$run.err" >&2
  fi
}

declare -A R # results

SRV=$WORK/srv
start_broker "$SRV"
SRV_BPORT=$BPORT
SRV_BPID=$BPID
start_otad "$SRV" "$SRV_BPORT"
FLEET_COMMON=(--api "$BASE" --token "$TOKEN" --key-file "$SRV/keys/server.key" --broker "127.0.0.1:$SRV_BPORT")
log "broker :$SRV_BPORT, otad $BASE, RLIMIT_NOFILE $NOFILE, N=$N_ROLL M=$N_BATCH"

head -c 65536 /dev/urandom > "$WORK/fw_small.bin"

# the floor's first run, before the rollouts
if has 1 || has 7; then
  floor_run 1
  floor_ceiling 1
fi

# ---- 1. rollout ------------------------------------------------------------------------
if has 1; then
  log "1 rollout: $N_ROLL devices"
  rollout sqlite "$BASE" "$SRV_BPORT" "$SRV/keys/server.key" "$SRV_BPID=broker $OPID=otad"
  rollout_results sqlite roll
  # with BENCH_KEEP=1, its devices' finish times too ($WORK/finish-roll.txt, as figure 1p's)
  [ "${BENCH_KEEP:-0}" = 1 ] && phase_rates "$(jget '.batch.batchId // ""' "$WORK/rollout-sqlite.json")" roll
fi

# ---- 1p. the rollout in 3 phases with an abort rule (docs/batches.md, "Phases, brakes and
# time"): 10 %, 30 %, the rest, each starting at the event that finishes its predecessor's last
# device (every device succeeds, no soak), and a rule on flash_failed that never fires; held to
# figure 1's rate, same otad.
if has 1p; then
  log "1p rollout in 3 phases with an abort rule: $N_ROLL devices"
  ROLL_JSON='{"maxPushPerMinute":1000000,"rollout":{"phases":[{"percent":10},{"percent":30},{"percent":60}],"abort":[{"reason":"flash_failed","thresholdPercent":50,"minFinished":100}]}}' \
    rollout phased "$BASE" "$SRV_BPORT" "$SRV/keys/server.key" "$SRV_BPID=broker $OPID=otad"
  rollout_results phased rollphase
  phase_rates "$(jget '.batch.batchId // ""' "$WORK/rollout-phased.json")" rollphase
fi

# ---- 1a. how soon a brake stops the batch after the event that crosses its threshold ------------
# Every device fails flashing, so the rule (50 % flash_failed once M have finished) is crossed
# by the M-th failure report; the devices write when they published each one (--fail-log),
# the sink when batch.paused came, ota-fleet when its 20 ms poll of the batch saw it paused.
# The M-th report published is the crossing one up to the broker's reordering of reports
# published in the same millisecond or so (docs in bench/method.md, "Abort latency").
if has 1a; then
  ABORT_M=$(( N_ROLL / 20 > 0 ? N_ROLL / 20 : 1 ))
  log "1a abort latency: $N_ROLL failing devices, rule crossed at the ${ABORT_M}th failure"
  SINK_PORT=$($OB port)
  : > "$WORK/abort-hook.log"
  : > "$WORK/abort-fail.log"
  "$OB" sink "$SINK_PORT" 0 "$WORK/abort-hook.log" > "$WORK/abort-sink.json" 2> "$WORK/abort-sink.err" &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/abort-hook.secret"
  HOOK_ID=$(api POST /api/v1/webhooks -H 'Content-Type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\",\"secret\":\"$(cat "$WORK/abort-hook.secret")\",\"events\":[\"batch.paused\",\"batch.aborted\"]}" | jq -r .id)
  FLEET_BATCH=(--mix fail-4=1 --fail-log "$WORK/abort-fail.log")
  ROLL_JSON='{"maxPushPerMinute":1000000,"rollout":{"phases":[{"percent":10},{"percent":30},{"percent":60}],"abort":[{"reason":"flash_failed","thresholdPercent":50,"minFinished":'$ABORT_M'}]}}' \
    rollout abort "$BASE" "$SRV_BPORT" "$SRV/keys/server.key" "$SRV_BPID=broker $OPID=otad"
  FLEET_BATCH=()
  j=$WORK/rollout-abort.json
  R[abort_state]=$(jget '.batch.state // "none"' "$j")
  R[abort_id]=$(jget '.batch.batchId // ""' "$j")
  for _ in $(seq 1 100); do grep -q ' batch\.\(paused\|aborted\)$' "$WORK/abort-hook.log" && break; sleep 0.1; done
  R[abort_cross]=$(sort -n "$WORK/abort-fail.log" | sed -n "${ABORT_M}p")
  R[abort_cross]=${R[abort_cross]:-0}
  R[abort_hook_at]=$(awk '$2 == "batch.paused" || $2 == "batch.aborted" { print $1; exit }' "$WORK/abort-hook.log")
  R[abort_hook_at]=${R[abort_hook_at]:-0}
  R[abort_api_ms]=$(( $(jget '.batch.endUnixMs // 0' "$j") - R[abort_cross] ))
  R[abort_hook_ms]=$(( R[abort_hook_at] - R[abort_cross] ))
  R[abort_reports]=$(wc -l < "$WORK/abort-fail.log")
  # the rule's figures at the moment it fired, as the API tells them
  R[abort_why]=$(api GET "/api/v1/batches/${R[abort_id]}" | jq -r '.pauseReason | "rule \(.rule): \(.failed) failed of \(.finished) finished"' 2>/dev/null || echo "?")
  api DELETE "/api/v1/webhooks/$HOOK_ID" > /dev/null
  kill "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
fi

# ---- 1w. the rollout with a webhook to a receiver that answers after 5 s ------------------------
if has 1w; then
  log "1w rollout with a webhook (receiver answering after 5 s): $N_ROLL devices"
  SINK_PORT=$($OB port)
  "$OB" sink "$SINK_PORT" 5000 > "$WORK/sink.json" 2> "$WORK/sink.err" &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/hook.secret"
  HOOK_ID=$(api POST /api/v1/webhooks -H 'Content-Type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\",\"secret\":\"$(cat "$WORK/hook.secret")\",\"events\":[\"*\"]}" | jq -r .id)
  rollout hook "$BASE" "$SRV_BPORT" "$SRV/keys/server.key" "$SRV_BPID=broker $OPID=otad"
  rollout_results hook rollhook
  R[rollhook_backlog]=$(api GET "/api/v1/webhooks/$HOOK_ID" | jq -r .backlog)
  R[rollhook_attempts]=$(api GET "/api/v1/webhooks/$HOOK_ID/deliveries?limit=1000" | jq -r '.items | length')
  api DELETE "/api/v1/webhooks/$HOOK_ID" > /dev/null
  kill "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  R[rollhook_sink]=$(jget '.requests // 0' "$WORK/sink.json" 2>/dev/null || echo 0)
fi

# ---- 1t. the rollout over TLS: its own broker (TLS listener) and otad -------------------------
if has 1t; then
  log "1t rollout over TLS: $N_ROLL devices"
  SRV_BASE=$BASE SRV_TOKEN=$TOKEN SRV_OPID=$OPID
  TLSD=$WORK/tls
  start_broker "$TLSD" tls
  TLS_BPID=$BPID
  start_otad "$TLSD" "$BPORT"
  FLEET_TLS=(--cafile "$TLSD/keys/ca.pem")
  rollout tls "$BASE" "$BTLSPORT" "$TLSD/keys/server.key" "$TLS_BPID=broker $OPID=otad"
  FLEET_TLS=()
  rollout_results tls rolltls
  kill "$OPID" "$TLS_BPID" 2>/dev/null || true
  BASE=$SRV_BASE TOKEN=$SRV_TOKEN OPID=$SRV_OPID
fi

# the floor's second run and the broker's ceiling, after the rollouts it is compared with
if has 1 || has 7; then
  floor_run 2
  floor_ceiling 2
  floor_run 3
  kill "$FLOOR_BPID" 2>/dev/null || true
fi

# ---- 7. rollout on PostgreSQL, one otad and two ------------------------------------------
if has 7; then
  if psql -X -q -d "$PGADMIN" -c 'SELECT 1' > /dev/null 2>&1; then
    SRV_BASE=$BASE SRV_TOKEN=$TOKEN SRV_OPID=$OPID
    for c in $PG_OTAD; do
      tag=pg$c
      log "7 rollout on PostgreSQL, $c otad: $N_ROLL devices"
      db=ota_bench_$(openssl rand -hex 6)
      psql -X -q -d "$PGADMIN" -c "CREATE DATABASE $db" > /dev/null
      PG_DBS+=("$db")
      # the admin URL with the database name replaced
      OTAD_DB=$(printf '%s' "$PGADMIN" | sed -E "s#^(postgres(ql)?://[^/?]*)/?[^?]*#\\1/$db#")
      dir=$WORK/$tag
      start_broker "$dir"
      bport=$BPORT bpid=$BPID
      if [ "$c" = 1 ]; then
        start_otad "$dir" "$bport"
        apis=$BASE map="$bpid=broker $OPID=otad" opids="$OPID"
      else
        start_otad "$dir" "$bport" a
        base_a=$BASE pid_a=$OPID
        start_otad "$dir" "$bport" b
        apis="$base_a,$BASE" map="$bpid=broker $pid_a=otad-a $OPID=otad-b" opids="$pid_a $OPID"
        BASE=$base_a
      fi
      rollout "$tag" "$apis" "$bport" "$dir/keys/server.key" "$map"
      rollout_results "$tag" "$tag"
      for p in $opids $bpid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    done
    OTAD_DB="" BASE=$SRV_BASE TOKEN=$SRV_TOKEN OPID=$SRV_OPID
  else
    log "7: PostgreSQL does not answer through $PGADMIN; skipped"
    R[pg_skip]="PostgreSQL did not answer through BENCH_PG_URL"
  fi
fi

# ---- 4. upload (before 3, which downloads what was uploaded) ----------------------------
if has 3 || has 4 || has 8; then
  log "4 upload: 100 MB"
  head -c $FW_BYTES /dev/urandom > "$WORK/fw_100m.bin"
  PK3=$(api POST /api/v1/products -H 'Content-Type: application/json' \
    -d '{"productName":"bench_big","description":"bench"}' | jq -r .productKey)
  sync
  t0=$(now)
  upload_fw "$PK3" bench_big_fw 9.0.0 "$WORK/fw_100m.bin" fw_100m.bin > "$WORK/upload.json"
  t1=$(now)
  FW3=$(jq -r .firmwareId "$WORK/upload.json")
  R[up_s]=$(fcalc "$t1 - $t0" 3)
  t0=$(now)
  openssl dgst -md5 "$WORK/fw_100m.bin" > /dev/null
  openssl dgst -sha256 "$WORK/fw_100m.bin" > /dev/null
  cp "$WORK/fw_100m.bin" "$WORK/fw_copy.bin"
  sync "$WORK/fw_copy.bin"
  t1=$(now)
  R[up_floor_s]=$(fcalc "$t1 - $t0" 3)
  rm -f "$WORK/fw_copy.bin"
fi

# ---- 3. download -------------------------------------------------------------------------
if has 3; then
  log "3 download: 100 MB x 64 clients"
  NG=$WORK/nginx
  mkdir -p "$NG/www" "$NG/tmp"
  ln "$WORK/fw_100m.bin" "$NG/www/fw_100m.bin" 2>/dev/null || cp "$WORK/fw_100m.bin" "$NG/www/fw_100m.bin"
  chmod -R a+rX "$NG"
  NPORT=$($OB port)
  cat > "$NG/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp; fastcgi_temp_path $NG/tmp;
  uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
  server { listen 127.0.0.1:$NPORT; root $NG/www; }
}
CONF
  "$NGINX" -c "$NG/nginx.conf" -p "$NG" &
  NGPID=$!
  PIDS+=("$NGPID")
  wait_tcp "$NPORT" 10
  # the devices' download link: one device that stalls after its first progress keeps the
  # batch in progress (timeoutMinutes 60), so its signed url stays valid
  DLURL=""
  DLHDR=()
  if "$FLEET" "${FLEET_COMMON[@]}" --product-key "$PK3" -n 1 --prefix d --register --activate-only \
      --duration 30 > "$WORK/dl-activate.out" 2>&1 && wait_eligible "$FW3" 1 30; then
    "$FLEET" "${FLEET_COMMON[@]}" --product-key "$PK3" -n 1 --prefix d --mix stall=1 --download 0 \
      --batch "$FW3" --batch-json '{"timeoutMinutes":60}' --duration 4 \
      --summary-json "$WORK/dl-url.json" > "$WORK/dl-url.out" 2>&1 || true
    DLURL=$(jq -r '.firstPushUrl // ""' "$WORK/dl-url.json" 2>/dev/null || true)
  fi
  if [ -n "$DLURL" ]; then
    R[dl_path]="the devices' signed link"
  else
    log "no device link; downloading from the API's firmware file route"
    DLURL=$BASE/api/v1/firmwares/$FW3/file
    DLHDR=(-H "Authorization: Bearer $TOKEN")
    R[dl_path]="GET /api/v1/firmwares/{id}/file"
  fi
  # three alternating runs of each; the median of each is reported
  for i in 1 2 3; do
    $OB get "$DLURL" -c 64 -r 2 "${DLHDR[@]}" > "$WORK/dl$i.json"
    $OB get "http://127.0.0.1:$NPORT/fw_100m.bin" -c 64 -r 2 > "$WORK/dl-nginx$i.json"
  done
  R[dl_mbps]=$(for i in 1 2 3; do jget .MBps "$WORK/dl$i.json"; done | sort -n | sed -n 2p)
  R[dl_nginx_mbps]=$(for i in 1 2 3; do jget .MBps "$WORK/dl-nginx$i.json"; done | sort -n | sed -n 2p)
  R[dl_errors]=$(cat "$WORK"/dl[0-9].json | jq -s 'map(.errors) | add')
  kill "$NGPID" 2>/dev/null || true
fi

# ---- 8. the HTTP listener under slow downloads ---------------------------------------------
# Each slow download has a 4 KiB receive window and takes 1 KiB a second, so it stays in the
# listener for the whole hold; health and one API call are timed during the hold and, as the
# floor, before it on the idle listener.
if has 8; then
  N_SLOW=${BENCH_SLOW_N:-10000}
  log "8 listener: $N_SLOW slow downloads, health and API latency"
  HA="Authorization: Bearer $TOKEN"
  $OB lat "$BASE/api/v1/health" -n 1000 > "$WORK/slow-health-idle.json"
  $OB lat "$BASE/api/v1/products?pageSize=20" -n 1000 -H "$HA" > "$WORK/slow-api-idle.json"
  $OB slow "$BASE/api/v1/firmwares/$FW3/file" -c "$N_SLOW" -t "${BENCH_SLOW_HOLD:-60}" -H "$HA" \
    > "$WORK/slow.json" 2> "$WORK/slow.err" &
  SLOWPID=$!
  PIDS+=("$SLOWPID")
  for ((i = 0; i < 3000; i++)); do
    grep -q '^ready' "$WORK/slow.err" 2>/dev/null && break
    sleep 0.1
  done
  R[slow_fds]=$(ls "/proc/$OPID/fd" | wc -l)
  t0=$(now)
  $OB lat "$BASE/api/v1/health" -n 1000 > "$WORK/slow-health.json" || true
  $OB lat "$BASE/api/v1/products?pageSize=20" -n 1000 -H "$HA" > "$WORK/slow-api.json" || true
  R[slow_lat_s]=$(fcalc "$(now) - $t0" 1)
  wait "$SLOWPID" || true
  for k in health api; do
    R[slow_${k}]="$(jget .p50Ms "$WORK/slow-$k.json") / $(jget .p99Ms "$WORK/slow-$k.json")"
    R[slow_${k}99]=$(jget .p99Ms "$WORK/slow-$k.json")
    R[slow_${k}_err]=$(jget .errors "$WORK/slow-$k.json")
    R[slow_${k}_idle]="$(jget .p50Ms "$WORK/slow-$k-idle.json") / $(jget .p99Ms "$WORK/slow-$k-idle.json")"
    R[slow_${k}_idle99]=$(jget .p99Ms "$WORK/slow-$k-idle.json")
  done
  R[slow_held]="$(jget .ok "$WORK/slow.json") held to the end of the hold ($(jget .closedEarly "$WORK/slow.json") closed early), $(jget .busy "$WORK/slow.json") answered 503 busy, $(jget .other "$WORK/slow.json") other; ramp $(jget .rampSeconds "$WORK/slow.json") s; otad $(printf %s "${R[slow_fds]}") open files"
  R[slow_ok]=$(jq '(.ok + .busy == .connections) and (.closedEarly == 0)' "$WORK/slow.json")
fi

# ---- 2. batch creation, 5. memory, 6. API latency ----------------------------------------
if has 2; then
  log "2 batch creation: $N_BATCH devices"
  PK2=$(api POST /api/v1/products -H 'Content-Type: application/json' \
    -d '{"productName":"bench_fleet","description":"bench"}' | jq -r .productKey)
  FW2=$(upload_fw "$PK2" bench_fleet_fw 2.0.0 "$WORK/fw_small.bin" fw_small.bin | jq -r .firmwareId)
  t0=$(now)
  "$FLEET" "${FLEET_COMMON[@]}" --product-key "$PK2" -n "$N_BATCH" --prefix b --register --activate-only \
    --connect-rate 8000 --duration 3600 > "$WORK/activate2.out" 2>&1 || { cat "$WORK/activate2.out" >&2; exit 1; }
  wait_eligible "$FW2" "$N_BATCH" 900
  R[act_s]=$(fcalc "$(now) - $t0" 1)
  # The versions are applied; presence events of the activation may still be queued in the
  # engine, whose rounds would share the store's one writer with the timed create. Time it on
  # a settled server, as the floor runs on an idle database: until the engine's queue is
  # empty and device messages reach it on time (health's engine object), at most 120 s.
  for _ in $(seq 1 600); do
    h=$(curl -s "$BASE/api/v1/health" || true)
    [ "$(printf '%s' "$h" | jq -r '(.engine.queued // 0) == 0 and (.engine.inputLagMs // 0) < 1000')" = true ] && break
    sleep 0.2
  done
  R[rss_before]=$(rss_kib "$OPID")
  ct=${BENCH_CREATE_TIMEOUT:-1800}
  if t=$(api POST "/api/v1/firmwares/$FW2/batches" -H 'Content-Type: application/json' --max-time "$ct" \
    -d '{"scope":"all","validityDays":1,"policy":"standard","timeoutMinutes":60,"retryTimes":0,"maxPushPerMinute":1000000}' \
    -o "$WORK/batch2.json" -w '%{time_total}'); then
    BID=$(jq -r .batchId "$WORK/batch2.json")
    R[bc_ms]=$(fcalc "$t * 1000" 1)
    R[bc_total]=$(jq -r .total "$WORK/batch2.json")
  else
    log "batch creation did not answer within $ct s"
    R[bc_ms]=$((ct * 1000))
    R[bc_note]=" (no answer within $ct s)"
    R[bc_total]=$N_BATCH
    BID=$(api GET "/api/v1/batches?firmwareId=$FW2" | jq -r '.items[0].batchId // empty' || true)
  fi
  $OB sqlite-insert "$WORK/floor.db" "$N_BATCH" > "$WORK/sqlite.json"
  R[bc_floor_ms]=$(jget .ms "$WORK/sqlite.json")
  rm -f "$WORK"/floor.db*

  if [ -n "$BID" ] && { has 5 || has 6; }; then
    # the batch runs: most devices are offline (to_push), a slice connects and upgrades
    # slowly in the background while memory and API latency are measured
    SLICE=$((N_BATCH < 2000 ? N_BATCH : 2000))
    "$FLEET" "${FLEET_COMMON[@]}" --product-key "$PK2" -n "$SLICE" --prefix b --download 0 --step-ms 500 \
      --connect-rate 200 --duration 120 > "$WORK/slice.out" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    sleep 3
    peak=0
    for _ in $(seq 1 5); do r=$(rss_kib "$OPID"); [ "$r" -gt "$peak" ] && peak=$r; sleep 1; done
    if has 6; then
      H="Authorization: Bearer $TOKEN"
      $OB lat "$BASE/api/v1/batches/$BID" -n 1000 -H "$H" > "$WORK/lat-head.json"
      $OB lat "$BASE/api/v1/batches/$BID/devices?page=1&pageSize=20" -n 1000 -H "$H" > "$WORK/lat-page1.json"
      deep=$((N_BATCH / 20 / 2))
      $OB lat "$BASE/api/v1/batches/$BID/devices?page=$deep&pageSize=20" -n 300 -H "$H" > "$WORK/lat-deep.json"
      # the same rows by cursor (keyset): the cursor that ends the page before
      cur=$(api GET "/api/v1/batches/$BID/devices?page=$((deep - 1))&pageSize=20" | jq -r '.nextCursor // empty')
      if [ -n "$cur" ]; then
        $OB lat "$BASE/api/v1/batches/$BID/devices?after=$cur&pageSize=20" -n 1000 -H "$H" > "$WORK/lat-cursor.json"
        R[lat_cur]="$(jget .p50Ms "$WORK/lat-cursor.json") / $(jget .p99Ms "$WORK/lat-cursor.json")"
        R[lat_cur99]=$(jget .p99Ms "$WORK/lat-cursor.json")
      fi
      R[lat_head]="$(jget .p50Ms "$WORK/lat-head.json") / $(jget .p99Ms "$WORK/lat-head.json")"
      R[lat_head99]=$(jget .p99Ms "$WORK/lat-head.json")
      R[lat_page]="$(jget .p50Ms "$WORK/lat-page1.json") / $(jget .p99Ms "$WORK/lat-page1.json")"
      R[lat_page99]=$(jget .p99Ms "$WORK/lat-page1.json")
      R[lat_deep]="$(jget .p50Ms "$WORK/lat-deep.json") / $(jget .p99Ms "$WORK/lat-deep.json") (page $deep)"
      R[lat_deep99]=$(jget .p99Ms "$WORK/lat-deep.json")
    fi
    r=$(rss_kib "$OPID"); [ "$r" -gt "$peak" ] && peak=$r
    R[rss_peak]=$peak
    kill "$SPID" 2>/dev/null || true
    R[batch_state]=$(api GET "/api/v1/batches/$BID" | jq -c '{state,total,succeeded,failed}')
  fi
  [ -n "$BID" ] && { api POST "/api/v1/batches/$BID/terminate" > /dev/null || true; }
fi

# ---- 9. hawkBit DDI: polls, and a rollout -------------------------------------------------
# Polls: BENCH_DDI_N (100,000) devices registered; wrk with BENCH_DDI_C (1,000) keep-alive
# connections, each request the poll of the next device with its own TargetToken
# (bench/ddi.lua, tokens from ota-bench ddi-tokens). Every device has polled once before
# (ota-fleet --ddi: the first poll is an engine input that makes it online and ready);
# then three alternating runs of BENCH_DDI_S s against otad and against nginx serving a
# file of the poll answer's size to the same requests; the medians are reported.
# Rollout: ota-fleet --ddi, BENCH_DDI_ROLL_N (10,000) devices polling every second (keep-alive
# libcurl, 1,000 requests in flight), create -> completed.
ddi_wrk() { # OUT_PREFIX URL [DDI_PATH]: one wrk run -> OUT_PREFIX.txt
  DDI_PATH=${3:-} wrk -t "$(nproc)" -c "$C_DDI" -d "${S_DDI}s" --latency -s "$ROOT/bench/ddi.lua" "$2" \
    > "$1.txt" 2>&1 || true
}
wrk_rps() { awk '/^Requests\/sec/ {print $2}' "$1.txt"; }
wrk_p99() { # ms
  awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } print v }' "$1.txt"
}
wrk_bad() { awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1.txt"; }
if has 9; then
  command -v wrk > /dev/null || { apt-get install -y -q wrk > /dev/null 2>&1 || sudo apt-get install -y -q wrk > /dev/null; }
  N_DDI=${BENCH_DDI_N:-100000}
  C_DDI=${BENCH_DDI_C:-1000}
  S_DDI=${BENCH_DDI_S:-15}
  N_DDIR=${BENCH_DDI_ROLL_N:-10000}
  log "9 ddi: polls of $N_DDI devices on $C_DDI connections; a rollout to $N_DDIR"
  R[ddi_load0]=$(cut -d' ' -f1-3 /proc/loadavg)
  PK9=$(api POST /api/v1/products -H 'Content-Type: application/json' -d '{"productName":"ddi-bench","description":"DDI"}' | jq -r .productKey)
  seq 0 $((N_DDI - 1)) | awk '{printf "{\"identifier\":\"ddi%06d\",\"deviceName\":\"ddi\"}\n", $1}' > "$WORK/ddi.ndjson"
  api POST "/api/v1/products/$PK9/devices:import" -H 'Content-Type: application/x-ndjson' \
    --data-binary @"$WORK/ddi.ndjson" > /dev/null
  $OB ddi-tokens "$SRV/keys/server.key" "$PK9" ddi "$N_DDI" > "$WORK/ddi-tokens.txt"
  export DDI_TOKENS=$WORK/ddi-tokens.txt DDI_PK=$PK9
  t0=$(now)
  "$FLEET" --ddi --api "$BASE" --token "$TOKEN" --key-file "$SRV/keys/server.key" --product-key "$PK9" \
    -n "$N_DDI" --prefix ddi --ddi-concurrency "$C_DDI" --duration 900 > "$WORK/ddi-first.out" 2>&1 || true
  R[ddi_first_s]=$(fcalc "$(now) - $t0" 1)
  R[ddi_online]=$(api GET "/api/v1/products/$PK9/devices?online=true&pageSize=1" | jq -r .total)
  NG9=$WORK/nginx9
  mkdir -p "$NG9/www" "$NG9/tmp"
  read -r id9 tok9 < "$WORK/ddi-tokens.txt"
  curl -s -H "Authorization: TargetToken $tok9" "$BASE/$PK9/controller/v1/$id9" > "$NG9/www/poll.json"
  R[ddi_bytes]=$(wc -c < "$NG9/www/poll.json")
  chmod -R a+rX "$NG9"
  NPORT9=$($OB port)
  cat > "$NG9/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $NG9/nginx.pid;
error_log $NG9/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $NG9/tmp; proxy_temp_path $NG9/tmp; fastcgi_temp_path $NG9/tmp;
  uwsgi_temp_path $NG9/tmp; scgi_temp_path $NG9/tmp;
  server { listen 127.0.0.1:$NPORT9; root $NG9/www; }
}
CONF
  "$NGINX" -c "$NG9/nginx.conf" -p "$NG9" &
  NGPID9=$!
  PIDS+=("$NGPID9")
  wait_tcp "$NPORT9" 10
  for i in 1 2 3; do
    ddi_wrk "$WORK/ddi-otad$i" "$BASE/"
    ddi_wrk "$WORK/ddi-nginx$i" "http://127.0.0.1:$NPORT9/" /poll.json
  done
  kill "$NGPID9" 2>/dev/null || true
  med() { sort -n | sed -n 2p; }
  R[ddi_rps]=$(for i in 1 2 3; do wrk_rps "$WORK/ddi-otad$i"; done | med)
  R[ddi_p99]=$(for i in 1 2 3; do wrk_p99 "$WORK/ddi-otad$i"; done | med)
  R[ddi_bad]=$(for i in 1 2 3; do wrk_bad "$WORK/ddi-otad$i"; done | awk '{n += $1} END {print n + 0}')
  R[ddi_nginx_rps]=$(for i in 1 2 3; do wrk_rps "$WORK/ddi-nginx$i"; done | med)
  R[ddi_nginx_p99]=$(for i in 1 2 3; do wrk_p99 "$WORK/ddi-nginx$i"; done | med)
  R[ddi_load1]=$(cut -d' ' -f1-3 /proc/loadavg)
  # the rollout
  PK9R=$(api POST /api/v1/products -H 'Content-Type: application/json' -d '{"productName":"ddi-roll","description":"DDI"}' | jq -r .productKey)
  FW9=$(upload_fw "$PK9R" ddi-roll-fw 2.0.0 "$WORK/fw_small.bin" ddi_roll.swu | jq -r .firmwareId)
  "$FLEET" --ddi --api "$BASE" --token "$TOKEN" --key-file "$SRV/keys/server.key" --product-key "$PK9R" \
    -n "$N_DDIR" --prefix r --register --batch "$FW9" --ddi-poll-ms 1000 --download 10 \
    --ddi-concurrency 1000 --duration 900 --summary-json "$WORK/ddi-roll.json" > "$WORK/ddi-roll.out" 2>&1 || true
  R[ddir_rate]=$(jq -r '.devicesPerMin // 0' "$WORK/ddi-roll.json" 2>/dev/null || echo 0)
  R[ddir_ms]=$(jq -r '.batchMs // 0' "$WORK/ddi-roll.json" 2>/dev/null || echo 0)
  R[ddir_server_ms]=$(jq -r '.serverMs // 0' "$WORK/ddi-roll.json" 2>/dev/null || echo 0)
  R[ddir_ok]=$(jq -r '.succeeded // 0' "$WORK/ddi-roll.json" 2>/dev/null || echo 0)
  R[ddir_state]=$(jq -r '.batchState // "none"' "$WORK/ddi-roll.json" 2>/dev/null || echo none)
  R[ddir_req]=$(jq -r '"\(.polls) polls, \(.requests) requests, \(.errors) errors"' "$WORK/ddi-roll.json" 2>/dev/null || echo "?")
fi

# ---- report ------------------------------------------------------------------------------
log "writing $OUT"
verdict() { if awk "BEGIN { exit !($1) }"; then echo pass; else echo FAIL; fi; }
cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
mem=$(free -g | awk '/Mem:/ {print $2 " GiB"}')
# BENCH_APPEND=1 adds this run's table as a section of an existing $OUT (e.g. a larger rollout
# after the default run) instead of writing the whole page.
APPEND=${BENCH_APPEND:-0}
[ -f "$OUT" ] || APPEND=0
{
  if [ "$APPEND" = 1 ]; then
    sed '/^## Method/,$d' "$OUT"
    echo "## Another run: $CMDLINE"
    echo
    echo "Made by \`bench/run.sh\` on $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), same machine."
  else
    echo "# Benchmarks"
    echo
    echo "Made by \`bench/run.sh\` ($CMDLINE) on $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
    echo "Each figure is measured next to its floor in the same run. Method and caveats: see the end of this page."
    echo
    echo "Machine: $cpu, $(nproc) cores, $mem RAM, Linux $(uname -r); RLIMIT_NOFILE $NOFILE."
    echo "Versions: $(/usr/sbin/mosquitto -h 2>/dev/null | head -1), $("$NGINX" -v 2>&1), SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1),"
    echo "$(gcc --version | head -1), $(curl --version | head -1 | cut -d' ' -f1-2), $(openssl version)."
  fi
  echo
  echo "| # | figure | measured | floor | ratio | target | |"
  echo "|---|---|---|---|---|---|---|"
  if has 1; then
    ratio=$(fcalc "${R[roll_rate]} / (${R[floor_rate]} > 0 ? ${R[floor_rate]} : 1)" 2)
    v=$(verdict "${R[roll_rate]} >= 100000 * ($N_ROLL >= 100000) && ${R[roll_rate]} >= 0.5 * ${R[floor_rate]} && \"${R[roll_state]}\" == \"completed\" && ${R[roll_ok]} == $N_ROLL")
    echo "| 1 | rollout, $N_ROLL devices (peak $(printf %s "${R[roll_peak]}") connected), create → ${R[roll_state]} | $(fcalc "${R[roll_rate]}" 0) devices/min (${R[roll_ms]} ms; server's endTime − startTime ${R[roll_server_ms]} ms; ${R[roll_ok]} succeeded${R[roll_why]}; pushes held ${R[sqlite_hold]} s) | $(fcalc "${R[floor_rate]}" 0) devices/min (${R[floor_ms]} ms; the fastest of ${R[floor_runs]}) | $ratio | ≥ 100,000/min at N = 100,000, ≥ 0.5 | $v |"
  fi
  if has 1 && [ -n "${R[ceil_mps]:-}" ]; then
    ratio=$(fcalc "${R[floor_rate]} / (${R[ceil_rate]} > 0 ? ${R[ceil_rate]} : 1)" 2)
    echo "| 1c | the broker's ceiling: the rollout's QoS 1 messages (a push, an ack, 3 progress reports, a version per device) on ${R[ceil_n]} device connections and one server connection, nobody waiting | $(fcalc "${R[ceil_mps]}" 0) messages/s, $(fcalc "${R[ceil_rate]}" 0) devices/min (${R[ceil_ms]} ms; the faster of ${R[ceil_runs]} messages/s) | $(fcalc "${R[floor_rate]}" 0) devices/min (the floor of 1) | $ratio (floor / ceiling) | floor ≥ figure 1 (nothing beats a floor) | $(verdict "${R[floor_rate]} >= ${R[roll_rate]:-0}") |"
  fi
  if has 1p; then
    # judged on the slowest phase's rate inside it (the issue's words), the whole batch's
    # rate (its phase boundaries included) reported next to it
    base=${R[roll_rate]:-0}
    ratio=$(fcalc "${R[rollphase_phase_min]} / ($base > 0 ? $base : 1)" 2)
    v=$(verdict "$base > 0 && ${R[rollphase_phase_min]} >= 0.9 * $base && \"${R[rollphase_state]}\" == \"completed\" && ${R[rollphase_ok]} == $N_ROLL")
    echo "| 1p | rollout in 3 phases (10 %, 30 %, the rest; each starts at the event that finishes the last device of the one before) with an abort rule, $N_ROLL devices (peak ${R[rollphase_peak]} connected), create → ${R[rollphase_state]}: the rate inside each phase (its devices / from its start to its last device finished) | ${R[rollphase_phase_rates]} devices/min in phases 1/2/3 (${R[rollphase_phase_ms]} ms); the slowest $(fcalc "${R[rollphase_phase_min]}" 0); whole batch $(fcalc "${R[rollphase_rate]}" 0) devices/min (${R[rollphase_ms]} ms, $(fcalc "${R[rollphase_rate]} / ($base > 0 ? $base : 1)" 2) of figure 1; server's endTime − startTime ${R[rollphase_server_ms]} ms; ${R[rollphase_ok]} succeeded${R[rollphase_why]}; pushes held ${R[phased_hold]} s) | $(fcalc "$base" 0) devices/min (figure 1, one phase) | $ratio (slowest phase) | ≥ 0.9 | $v |"
  fi
  if has 1a; then
    v=$(verdict "\"${R[abort_state]}\" == \"paused\" && ${R[abort_cross]} > 0 && ${R[abort_api_ms]} <= 1000")
    echo "| 1a | abort latency: figure 1p's batch to $N_ROLL devices that all fail flashing, the rule (flash_failed ≥ 50 % once $ABORT_M finished) crossed by the ${ABORT_M}th failure report (${R[abort_why]}; ${R[abort_reports]} failure reports published in all) | ${R[abort_api_ms]} ms to the batch seen ${R[abort_state]} by a 20 ms poll of GET /batches/{id}; ${R[abort_hook_ms]} ms to the batch.paused webhook at the receiver (its worker passes every 0.5 s) | — | — | ≤ 1,000 ms (poll) | $v |"
  fi
  if has 1w; then
    base=${R[roll_rate]:-0}
    ratio=$(fcalc "${R[rollhook_rate]} / ($base > 0 ? $base : 1)" 2)
    v=$(verdict "$base > 0 && ${R[rollhook_rate]} >= 0.9 * $base && \"${R[rollhook_state]}\" == \"completed\" && ${R[rollhook_ok]} == $N_ROLL")
    echo "| 1w | rollout with a webhook on every event (grouping at its defaults) to a receiver answering after 5 s, $N_ROLL devices (peak ${R[rollhook_peak]} connected), create → ${R[rollhook_state]} | $(fcalc "${R[rollhook_rate]}" 0) devices/min (${R[rollhook_ms]} ms; server's endTime − startTime ${R[rollhook_server_ms]} ms; ${R[rollhook_ok]} succeeded${R[rollhook_why]}; the receiver got ${R[rollhook_sink]} deliveries, ${R[rollhook_attempts]} attempts logged, backlog ${R[rollhook_backlog]} events when the batch ended) | $(fcalc "$base" 0) devices/min (figure 1, no webhook) | $ratio | ≥ 0.9 | $v |"
  fi
  if has 1t; then
    base=${R[roll_rate]:-0}
    ratio=$(fcalc "${R[rolltls_rate]} / ($base > 0 ? $base : 1)" 2)
    v=$(verdict "$base > 0 && ${R[rolltls_rate]} >= 0.6 * $base && \"${R[rolltls_state]}\" == \"completed\" && ${R[rolltls_ok]} == $N_ROLL")
    echo "| 1t | rollout over TLS (every device on MQTT/TLS 1.3, ECDSA P-256 server certificate), $N_ROLL devices (peak ${R[rolltls_peak]} connected), create → ${R[rolltls_state]} | $(fcalc "${R[rolltls_rate]}" 0) devices/min (${R[rolltls_ms]} ms; server's endTime − startTime ${R[rolltls_server_ms]} ms; ${R[rolltls_ok]} succeeded${R[rolltls_why]}) | $(fcalc "$base" 0) devices/min (figure 1, plain) | $ratio | ≥ 0.6 | $v |"
  fi
  if has 7 && [ -z "${R[pg_skip]:-}" ]; then
    for c in $PG_OTAD; do
      k=pg$c
      ratio=$(fcalc "${R[${k}_rate]} / (${R[floor_rate]} > 0 ? ${R[floor_rate]} : 1)" 2)
      v=$(verdict "${R[${k}_rate]} >= 0.5 * ${R[floor_rate]} && \"${R[${k}_state]}\" == \"completed\" && ${R[${k}_ok]} == $N_ROLL")
      what="one otad" lab=7a
      [ "$c" = 2 ] && what="two otad (instances a and b)" lab=7b
      echo "| $lab | rollout on PostgreSQL, $what, $N_ROLL devices (peak ${R[${k}_peak]} connected), create → ${R[${k}_state]} | $(fcalc "${R[${k}_rate]}" 0) devices/min (${R[${k}_ms]} ms; server's endTime − startTime ${R[${k}_server_ms]} ms; ${R[${k}_ok]} succeeded, ${R[${k}_failed]} failed${R[${k}_why]}; ${R[${k}_dups]} duplicate pushes) | $(fcalc "${R[floor_rate]}" 0) devices/min (the floor of 1) | $ratio | all succeed, ≥ 0.5 | $v |"
    done
  elif has 7; then
    echo "| 7 | rollout on PostgreSQL | not measured: ${R[pg_skip]} | | | | |"
  fi
  if has 2; then
    ratio=$(fcalc "${R[bc_ms]} / ${R[bc_floor_ms]}" 2)
    echo "| 2 | batch creation, scope all, ${R[bc_total]} devices | ${R[bc_ms]} ms${R[bc_note]:-} | ${R[bc_floor_ms]} ms (SQLite insert, one transaction) | $ratio | ≤ 2 | $(verdict "$ratio <= 2") |"
  fi
  if has 3; then
    ratio=$(fcalc "${R[dl_mbps]} / ${R[dl_nginx_mbps]}" 2)
    echo "| 3 | download, 100 MB × 64 clients × 2 from ${R[dl_path]} (median of 3; ${R[dl_errors]} errors) | ${R[dl_mbps]} MB/s | ${R[dl_nginx_mbps]} MB/s (nginx) | $ratio | ≥ 0.9 | $(verdict "$ratio >= 0.9") |"
  fi
  if has 4; then
    ratio=$(fcalc "${R[up_s]} / ${R[up_floor_s]}" 2)
    echo "| 4 | upload, 100 MB | ${R[up_s]} s | ${R[up_floor_s]} s (openssl md5 + sha256 + cp + fsync) | $ratio | ≤ 1.5 | $(verdict "$ratio <= 1.5") |"
  fi
  if has 2 && has 5 && [ -n "${R[rss_peak]:-}" ]; then
    per=$(fcalc "${R[rss_peak]} * 1024 / $N_BATCH" 0)
    delta=$(fcalc "(${R[rss_peak]} - ${R[rss_before]}) * 1024 / $N_BATCH" 0)
    echo "| 5 | otad RSS per device, $N_BATCH-device batch running | $per B/device (peak RSS $(fcalc "${R[rss_peak]} / 1024" 0) MiB; $(fcalc "${R[rss_before]} / 1024" 0) MiB just before the batch, a difference of $delta B/device) | – | – | ≤ 1024 B | $(verdict "$per <= 1024") |"
  fi
  if has 2 && has 6 && [ -n "${R[lat_head99]:-}" ]; then
    echo "| 6a | API p50 / p99, batch header, during the batch | ${R[lat_head]} ms | – | – | p99 < 10 ms | $(verdict "${R[lat_head99]} < 10") |"
    echo "| 6b | API p50 / p99, devices page 1 (20 rows) | ${R[lat_page]} ms | – | – | p99 < 10 ms | $(verdict "${R[lat_page99]} < 10") |"
    echo "| 6c | API p50 / p99, a middle page of devices by page number (OFFSET) | ${R[lat_deep]} ms | – | – | none: grows with the depth (6d walks the same rows) | – |"
    [ -n "${R[lat_cur99]:-}" ] && echo "| 6d | API p50 / p99, the same middle page by cursor (\`after\`) | ${R[lat_cur]} ms | – | – | p99 < 10 ms | $(verdict "${R[lat_cur99]} < 10") |"
  fi
  if has 8 && [ -n "${R[slow_health99]:-}" ]; then
    for k in health api; do
      lab=8a what="GET /api/v1/health"
      [ "$k" = api ] && lab=8b what="GET /api/v1/products (20 rows, token)"
      ratio=$(fcalc "${R[slow_${k}99]} / (${R[slow_${k}_idle99]} > 0 ? ${R[slow_${k}_idle99]} : 1)" 2)
      echo "| $lab | p50 / p99 of $what while $N_SLOW slow downloads are held (${R[slow_held]}; both latency runs took ${R[slow_lat_s]} s, ${R[slow_${k}_err]} errors) | ${R[slow_${k}]} ms | ${R[slow_${k}_idle]} ms (idle listener) | $ratio (p99) | p99 < 50 ms, every download held or refused at once | $(verdict "${R[slow_${k}99]} < 50 && ${R[slow_${k}_err]} == 0 && \"${R[slow_ok]}\" == \"true\"") |"
    done
  fi
  if has 9; then
    ratio=$(fcalc "${R[ddi_rps]:-0} / (${R[ddi_nginx_rps]:-0} > 0 ? ${R[ddi_nginx_rps]} : 1)" 2)
    echo "| 9 | hawkBit DDI polls: $N_DDI devices registered (${R[ddi_online]} online after each polled once, which took ${R[ddi_first_s]} s), wrk with $C_DDI keep-alive connections, each request another device's poll with its TargetToken (${R[ddi_bytes]}-byte answers; median of 3 runs of ${S_DDI} s; ${R[ddi_bad]} errors or non-200; load average ${R[ddi_load0]} before, ${R[ddi_load1]} after) | $(fcalc "${R[ddi_rps]:-0}" 0) polls/s, p99 ${R[ddi_p99]} ms | $(fcalc "${R[ddi_nginx_rps]:-0}" 0) requests/s, p99 ${R[ddi_nginx_p99]} ms (nginx, a static file of the same size, same requests) | $ratio | ≥ 0.5 | $(verdict "$ratio >= 0.5 && ${R[ddi_bad]} == 0") |"
    echo "| 9r | hawkBit DDI rollout, $N_DDIR devices (ota-fleet --ddi: polling every second, 1,000 requests in flight on keep-alive connections, a tenth downloading), create → ${R[ddir_state]} | $(fcalc "${R[ddir_rate]}" 0) devices/min (${R[ddir_ms]} ms; server's endTime − startTime ${R[ddir_server_ms]} ms; ${R[ddir_ok]} succeeded; ${R[ddir_req]}) | — | — | all succeed | $(verdict "\"${R[ddir_state]}\" == \"completed\" && ${R[ddir_ok]} == $N_DDIR") |"
  fi
  echo
  [ -n "${R[act_s]:-}" ] && echo "Registering (NDJSON import) and activating $N_BATCH devices took ${R[act_s]} s. Batch state during figures 5–6: ${R[batch_state]:-n/a}."
  if has 1 || has 1t || has 7; then
    echo
    echo "CPU during each rollout's batch (create → end, % of one core, from /proc every 0.2 s):"
    echo
    has 1 && echo "- 1 (SQLite): ${R[roll_cpu]}"
    [ -n "${R[floor_cpu]:-}" ] && echo "- floor of 1 (ota-fleet-responder, start → last version): ${R[floor_cpu]}"
    has 1p && echo "- 1p (SQLite, 3 phases): ${R[rollphase_cpu]}"
    has 1w && echo "- 1w (SQLite, webhook to a 5 s receiver): ${R[rollhook_cpu]}"
    has 1t && echo "- 1t (SQLite, MQTT/TLS): ${R[rolltls_cpu]}"
    if has 7 && [ -z "${R[pg_skip]:-}" ]; then
      if [[ " $PG_OTAD " == *" 1 "* ]]; then
        echo "- 7a (PostgreSQL, one otad): ${R[pg1_cpu]}; ${R[pg1_rt]} round trips to PostgreSQL per device (ota_store_round_trips_total), ${R[pg1_rounds]} engine rounds per 1,000 devices (ota_engine_rounds_total), pushes held ${R[pg1_hold]} s (ota_engine_push_hold_seconds_total)"
      fi
      if [[ " $PG_OTAD " == *" 2 "* ]]; then
        echo "- 7b (PostgreSQL, two otad): ${R[pg2_cpu]}; ${R[pg2_rt]} round trips to PostgreSQL per device, ${R[pg2_rounds]} engine rounds per 1,000 devices, pushes held ${R[pg2_hold]} s, both instances"
      fi
    fi
  fi
  echo
  if [ "$APPEND" = 1 ]; then
    sed -n '/^## Method/,$p' "$OUT"
  else
    cat "$ROOT/bench/method.md"
  fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
