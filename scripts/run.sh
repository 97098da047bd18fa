#!/usr/bin/env bash
# `make run`: starts the broker (Mosquitto with the project's configuration and plugin) and
# otad with its documented defaults, prints the console URL and the admin token, and stays
# in the foreground. Ctrl-C (or SIGTERM) stops otad, then the broker, and waits for both.
#
#   bash scripts/run.sh BUILD_DIR
#
# Environment (defaults from docs/configuration.md; otad reads them itself):
#   OTA_HTTP_ADDR=127.0.0.1:8080  OTA_PUBLIC_URL=http://127.0.0.1:8080
#   OTA_MQTT_ADDR=127.0.0.1:1883  OTA_DATA_DIR=./data  OTA_ADMIN_TOKEN  OTA_TIME_SCALE  OTA_DB
#   OTA_HTTPS_ADDR=127.0.0.1:8443  OTA_MQTTS_ADDR=127.0.0.1:8883  OTA_MQTTS_CERT_ADDR=127.0.0.1:8884
#   OTA_TLS_CERT  OTA_TLS_KEY  OTA_TLS_CA  OTA_ALLOW_PLAINTEXT (docs/security.md)
# `otad --init-only` runs first: it makes the data folder, the keys, the admin token and the
# TLS files (CA and server certificate in DATA/keys/) the broker's TLS listeners need.
# and, for this script:
#   OTA_BROKER=external   use the broker already listening on OTA_MQTT_ADDR (it must load
#                         ota_auth.so or provide the same; docs/broker.md); start none.
#   OTA_STOP_SYSTEM_BROKER=0  refuse (instead of stopping Debian's own mosquitto service)
#                         when that service holds the MQTT port.
set -uo pipefail
# everything made here (data folder, broker configuration, logs, persistence) is private to
# this user: the data folder holds the server key (docs/security.md)
umask 077

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

export OTA_HTTP_ADDR=${OTA_HTTP_ADDR:-127.0.0.1:8080}
export OTA_PUBLIC_URL=${OTA_PUBLIC_URL:-http://127.0.0.1:8080}
export OTA_MQTT_ADDR=${OTA_MQTT_ADDR:-127.0.0.1:1883}
export OTA_DATA_DIR=${OTA_DATA_DIR:-./data}
export OTA_HTTPS_ADDR=${OTA_HTTPS_ADDR-127.0.0.1:8443}
export OTA_MQTTS_ADDR=${OTA_MQTTS_ADDR-127.0.0.1:8883}
export OTA_MQTTS_CERT_ADDR=${OTA_MQTTS_CERT_ADDR-127.0.0.1:8884}
broker_mode=${OTA_BROKER:-local}

otad_bin="$build/server/otad"
plugin="$build/broker-plugin/ota_auth.so"
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

say() { printf 'run: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$otad_bin" ] || die "$otad_bin is missing: build first (make build)"

# host:port, with [v6]:port allowed
split_addr() {
  local a=$1
  port=${a##*:}
  host=${a%:*}
  host=${host#[}
  host=${host%]}
  case "$port" in '' | *[!0-9]*) die "bad address '$a' (want host:port)" ;; esac
  [ -n "$host" ] || host=127.0.0.1
}

# 0 when something accepts TCP connections on host:port
accepts() {
  local h=$1 p=$2
  [ "$h" = 0.0.0.0 ] && h=127.0.0.1
  [ "$h" = :: ] && h=::1
  (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null
}

# Waits up to $3 seconds for host:port to accept; fails early if pid $4 (optional) died.
wait_accepts() {
  local h=$1 p=$2 secs=$3 pid=${4:-}
  local i
  for ((i = 0; i < secs * 10; i++)); do
    accepts "$h" "$p" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# GET path on the HTTP address through bash's /dev/tcp; prints the status code.
http_status() {
  local h=$1 p=$2 path=$3 line
  [ "$h" = 0.0.0.0 ] && h=127.0.0.1
  { exec 4<>"/dev/tcp/$h/$p"; } 2>/dev/null || { echo 0; return; }
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$h" >&4
  IFS= read -r -t 2 line <&4 || line=""
  exec 4<&- 4>&-
  line=${line#HTTP/1.? }
  echo "${line%% *}"
}

# --- data folder, keys, admin token (otad --init-only) --------------------------------
mkdir -p "$OTA_DATA_DIR" || die "cannot create $OTA_DATA_DIR"
OTA_DATA_DIR=$(cd "$OTA_DATA_DIR" && pwd)
export OTA_DATA_DIR
"$otad_bin" --init-only >/dev/null || die "otad --init-only failed"
# otad shows the token only when it creates it; this script shows it to the interactive user
# on every start, read from the 0600 file (never through otad's log)
if [ -n "${OTA_ADMIN_TOKEN:-}" ]; then
  token=$OTA_ADMIN_TOKEN
else
  token=$(head -n 1 "$OTA_DATA_DIR/keys/admin.token" 2>/dev/null) || die "cannot read $OTA_DATA_DIR/keys/admin.token"
fi
[ -f "$OTA_DATA_DIR/keys/server.key" ] || die "otad --init-only made no $OTA_DATA_DIR/keys/server.key"
ca_file=${OTA_TLS_CA:-$OTA_DATA_DIR/keys/ca.pem}
[ -f "$OTA_DATA_DIR/keys/ca.pem" ] || die "otad --init-only made no $OTA_DATA_DIR/keys/ca.pem"

split_addr "$OTA_MQTT_ADDR"
mqtt_host=$host mqtt_port=$port
split_addr "$OTA_HTTP_ADDR"
http_host=$host http_port=$port

broker_pid=""
otad_pid=""
stopping=0

stop_all() {
  stopping=1
  trap '' INT TERM
  if [ -n "$otad_pid" ] && kill -0 "$otad_pid" 2>/dev/null; then
    say "stopping otad"
    kill -TERM "$otad_pid" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$otad_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$otad_pid" 2>/dev/null && kill -KILL "$otad_pid" 2>/dev/null
    wait "$otad_pid" 2>/dev/null
  fi
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    say "stopping the broker"
    kill -TERM "$broker_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$broker_pid" 2>/dev/null && kill -KILL "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
  fi
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT
trap 'stop_all; exit 129' HUP

# --- broker -----------------------------------------------------------------------------
if [ "$broker_mode" = external ]; then
  say "using the external broker at $OTA_MQTT_ADDR (OTA_BROKER=external)"
  wait_accepts "$mqtt_host" "$mqtt_port" 10 || say "warning: nothing accepts on $OTA_MQTT_ADDR yet; otad keeps retrying"
else
  [ -f "$plugin" ] || die "$plugin is missing: build first (make build)"
  [ -x "$mosquitto_bin" ] || die "mosquitto is not installed (apt-get install mosquitto)"
  if accepts "$mqtt_host" "$mqtt_port"; then
    # Debian's own mosquitto service starts on 1883 when the package is installed.
    sys_pid=$(cat /run/mosquitto/mosquitto.pid 2>/dev/null || true)
    if [ -n "$sys_pid" ] && kill -0 "$sys_pid" 2>/dev/null && [ "${OTA_STOP_SYSTEM_BROKER:-1}" != 0 ]; then
      say "Debian's mosquitto service holds $OTA_MQTT_ADDR; stopping it (it knows nothing of our devices)"
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop mosquitto || true
      else
        service mosquitto stop >/dev/null 2>&1 || /etc/init.d/mosquitto stop >/dev/null 2>&1 || kill "$sys_pid"
      fi
      for _ in $(seq 1 50); do accepts "$mqtt_host" "$mqtt_port" || break; sleep 0.1; done
    fi
    if accepts "$mqtt_host" "$mqtt_port"; then
      die "something already listens on $OTA_MQTT_ADDR: stop it, choose another OTA_MQTT_ADDR, or set OTA_BROKER=external to use it (docs/broker.md)"
    fi
  fi
  conf="$OTA_DATA_DIR/mosquitto.conf"
  bash "$here/broker-conf.sh" "$OTA_DATA_DIR" "$mqtt_host" "$mqtt_port" "$plugin" > "$conf.tmp" &&
    mv "$conf.tmp" "$conf" || die "broker-conf.sh failed"
  broker_log="$OTA_DATA_DIR/broker.log"
  # own session: a Ctrl-C on the terminal reaches this script only, which stops otad first
  setsid "$mosquitto_bin" -c "$conf" >> "$broker_log" 2>&1 < /dev/null &
  broker_pid=$!
  if ! wait_accepts "$mqtt_host" "$mqtt_port" 10 "$broker_pid"; then
    say "the broker did not start; last lines of $broker_log:"
    tail -n 20 "$broker_log" >&2
    stop_all
    exit 1
  fi
  if [ -n "$OTA_MQTTS_ADDR" ]; then
    split_addr "$OTA_MQTTS_ADDR"
    if ! wait_accepts "$host" "$port" 5 "$broker_pid"; then
      say "the broker's TLS listener $OTA_MQTTS_ADDR does not accept; last lines of $broker_log:"
      tail -n 20 "$broker_log" >&2
      stop_all
      exit 1
    fi
  fi
  say "broker on $OTA_MQTT_ADDR${OTA_MQTTS_ADDR:+, TLS on $OTA_MQTTS_ADDR}${OTA_MQTTS_CERT_ADDR:+, device certificates on $OTA_MQTTS_CERT_ADDR} (pid $broker_pid, log $broker_log)"
fi

# --- otad ---------------------------------------------------------------------------------
setsid "$otad_bin" < /dev/null &
otad_pid=$!
ready=0
for _ in $(seq 1 300); do
  kill -0 "$otad_pid" 2>/dev/null || break
  if [ "$(http_status "$http_host" "$http_port" /api/v1/health)" = 200 ]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" = 1 ]; then
  {
    printf '\n'
    if [ -n "$OTA_HTTPS_ADDR" ]; then
      printf '  OTA console:  https://%s/  (plain, this machine only: http://%s/)\n' "$OTA_HTTPS_ADDR" "$OTA_HTTP_ADDR"
    else
      printf '  OTA console:  %s/\n' "$OTA_PUBLIC_URL"
    fi
    printf '  admin token:  %s\n' "$token"
    [ -n "$OTA_MQTTS_ADDR" ] && printf '  MQTT/TLS:     mqtts://%s  (device certificates: %s)\n' "$OTA_MQTTS_ADDR" "${OTA_MQTTS_CERT_ADDR:-off}"
    printf '  MQTT plain:   %s\n' "$OTA_MQTT_ADDR"
    printf '  CA to trust:  %s\n' "$ca_file"
    printf '  downloads:    %s/dl/...\n' "$OTA_PUBLIC_URL"
    printf '  data folder:  %s\n  (Ctrl-C stops both)\n\n' "$OTA_DATA_DIR"
  } >&2
elif kill -0 "$otad_pid" 2>/dev/null; then
  say "otad is not healthy after 30 s (GET /api/v1/health); still waiting, see its log above"
fi

# Stay in the foreground until otad or the broker ends, or a signal comes.
while true; do
  wait -n $otad_pid $broker_pid
  [ "$stopping" = 1 ] && break
  if ! kill -0 "$otad_pid" 2>/dev/null; then
    wait "$otad_pid"
    rc=$?
    say "otad exited (status $rc)"
    otad_pid=""
    stop_all
    exit "$rc"
  fi
  if [ -n "$broker_pid" ] && ! kill -0 "$broker_pid" 2>/dev/null; then
    say "the broker exited; last lines of $broker_log:"
    tail -n 20 "$broker_log" >&2
    broker_pid=""
    stop_all
    exit 1
  fi
done
