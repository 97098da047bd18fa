#!/usr/bin/env bash
# Prints the Mosquitto configuration of the project on stdout:
#   bash scripts/broker-conf.sh DATA_DIR HOST PORT PLUGIN_SO > DATA_DIR/mosquitto.conf
# One listener on HOST:PORT, no anonymous access, persistence in DATA_DIR/broker/ (created
# here, 0700), the ota_auth plugin reading DATA_DIR/keys/server.key, logs on stderr.
# Environment (optional):
#   OTA_BROKER_USER       user the broker runs as when started as root. Default: root, because
#                         Mosquitto drops privileges *before* it loads the plugin, reads the key
#                         and opens its persistence, and DATA_DIR (0700) and the key (0600) are
#                         private to otad's user. With another user (e.g. mosquitto), the broker
#                         gets a folder of its own outside DATA_DIR, OTA_BROKER_DIR (default
#                         DATA_DIR.broker, 0700, owned by that user) holding its persistence and
#                         its own copy of the key (0600, owned by that user), refreshed here on
#                         every start. The key is never made readable by a group or others:
#                         otad and the plugin refuse such a key (docs/security.md).
#   OTA_BROKER_PART_SIZE  presence snapshot part size (1..1000, default 1000).
#   OTA_BROKER_PARTITION_TOPICS  true (default) or false: the plugin moves device messages to
#                         their partition's topic (docs/broker.md, "Partition topics").
#   OTA_BROKER_LOG_TYPES  space-separated log_type values (default "error warning notice information").
#   OTA_MQTTS_ADDR        host:port of the MQTT over TLS listener (password logins); empty = none.
#   OTA_MQTTS_CERT_ADDR   host:port of the MQTT over TLS listener that requires a device
#                         certificate (certificate logins); empty = none.
#   OTA_TLS_CERT, OTA_TLS_KEY  the server certificate and key both TLS listeners present;
#                         default DATA_DIR/keys/tls-cert.pem and tls-key.pem, which
#                         `otad --init-only` generates (run it first).
#   OTA_ALLOW_PLAINTEXT=1 lets the plain listener (HOST:PORT) be on a non-loopback address;
#                         without it this script refuses such a HOST.
# See docs/broker.md for every choice made here.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 DATA_DIR HOST PORT PLUGIN_SO" >&2
  exit 2
fi
data_dir=$1 host=$2 port=$3 plugin=$4
case "$port" in ''|*[!0-9]*) echo "broker-conf.sh: bad port '$port'" >&2; exit 2;; esac
for p in "$data_dir" "$plugin"; do
  case "$p" in *[[:space:]]*) echo "broker-conf.sh: paths with spaces are not supported: '$p'" >&2; exit 2;; esac
done
data_dir=$(cd "$data_dir" && pwd)
case "$plugin" in /*) ;; *) plugin="$(pwd)/$plugin";; esac
umask 077
key_file="$data_dir/keys/server.key"
tls_cert=${OTA_TLS_CERT:-$data_dir/keys/tls-cert.pem}
tls_key=${OTA_TLS_KEY:-$data_dir/keys/tls-key.pem}
device_ca="$data_dir/keys/ca.pem"
crl_file="$data_dir/keys/crl.pem"
mqtts_addr=${OTA_MQTTS_ADDR:-}
mqtts_cert_addr=${OTA_MQTTS_CERT_ADDR:-}

# host:port or [v6]:port -> "PORT HOST"
listener_of() {
  local a=$1 p h
  p=${a##*:}
  h=${a%:*}
  h=${h#[}
  h=${h%]}
  case "$p" in '' | *[!0-9]*) echo "broker-conf.sh: bad address '$a' (want host:port)" >&2; return 1;; esac
  echo "$p ${h:-127.0.0.1}"
}

case "$host" in
  127.* | localhost | ::1) ;;
  *)
    if [ "${OTA_ALLOW_PLAINTEXT:-0}" != 1 ]; then
      echo "broker-conf.sh: refusing a plain MQTT listener on the non-loopback address $host:$port:" \
        "device secrets would cross the network in clear. Give devices OTA_MQTTS_ADDR and keep the" \
        "plain listener on 127.0.0.1, or set OTA_ALLOW_PLAINTEXT=1 (docs/security.md)" >&2
      exit 2
    fi
    echo "broker-conf.sh: WARNING: plain MQTT on $host:$port (OTA_ALLOW_PLAINTEXT=1): device secrets travel unencrypted" >&2
    ;;
esac
if [ -n "$mqtts_addr$mqtts_cert_addr" ]; then
  for f in "$tls_cert" "$tls_key"; do
    case "$f" in *[[:space:]]*) echo "broker-conf.sh: paths with spaces are not supported: '$f'" >&2; exit 2;; esac
    [ -r "$f" ] || { echo "broker-conf.sh: $f is missing: run 'otad --init-only' first (it generates the TLS files)" >&2; exit 2; }
  done
fi
if [ -n "$mqtts_cert_addr" ] && [ ! -r "$device_ca" ]; then
  echo "broker-conf.sh: $device_ca is missing: run 'otad --init-only' first" >&2
  exit 2
fi
broker_dir="$data_dir/broker"

run_user=""
if [ "$(id -u)" -eq 0 ]; then
  run_user=${OTA_BROKER_USER:-root}
fi
if [ -n "$run_user" ] && [ "$run_user" != root ] && [ "$run_user" != "$(stat -c %U "$data_dir")" ]; then
  # Another user cannot enter DATA_DIR: give it a folder and a key copy of its own.
  broker_dir=${OTA_BROKER_DIR:-$data_dir.broker}
  case "$broker_dir" in *[[:space:]]*) echo "broker-conf.sh: paths with spaces are not supported: '$broker_dir'" >&2; exit 2;; esac
  [ -f "$key_file" ] || { echo "broker-conf.sh: $key_file is missing (run otad --init-only first)" >&2; exit 1; }
  mkdir -p "$broker_dir"
  chown "$run_user" "$broker_dir"
  chmod 0700 "$broker_dir"
  # copies owned by that user, 0600, refreshed on every start (a rotated key or a new
  # certificate reaches the broker at its next start)
  own_copy() {
    install -m 0600 -o "$run_user" -g "$(id -gn "$run_user")" "$1" "$broker_dir/$2"
    echo "$broker_dir/$2"
  }
  key_file=$(own_copy "$key_file" server.key)
  if [ -n "$mqtts_addr$mqtts_cert_addr" ]; then
    tls_cert=$(own_copy "$tls_cert" tls-cert.pem)
    tls_key=$(own_copy "$tls_key" tls-key.pem)
  fi
  if [ -n "$mqtts_cert_addr" ]; then
    device_ca=$(own_copy "$device_ca" ca.pem)
  fi
  if [ -f "$crl_file" ]; then
    crl_file=$(own_copy "$crl_file" crl.pem)
  else
    crl_file="$broker_dir/crl.pem"
  fi
fi
mkdir -p "$broker_dir"
chmod 0700 "$broker_dir"

cat <<CONF
# Generated by scripts/broker-conf.sh; regenerated on every start. See docs/broker.md.
per_listener_settings false
allow_anonymous false
listener $port $host
set_tcp_nodelay true
max_connections -1
CONF
if [ -n "$mqtts_addr" ]; then
  l=$(listener_of "$mqtts_addr") || exit 2
  cat <<CONF

# MQTT over TLS: devices verify this certificate against the CA they were given
# (DATA_DIR/keys/ca.pem when generated) and log in with their secret.
listener $l
set_tcp_nodelay true
max_connections -1
certfile $tls_cert
keyfile $tls_key
tls_version tlsv1.2
CONF
fi
if [ -n "$mqtts_cert_addr" ]; then
  l=$(listener_of "$mqtts_cert_addr") || exit 2
  cat <<CONF

# MQTT over TLS with device certificates: a client certificate signed by the service's CA
# is required; the plugin checks that its CN equals the username and client id and that
# DATA_DIR/keys/crl.pem does not revoke it. No password is needed.
listener $l
set_tcp_nodelay true
max_connections -1
certfile $tls_cert
keyfile $tls_key
cafile $device_ca
require_certificate true
tls_version tlsv1.2
CONF
fi
cat <<CONF

# Devices and the server authenticate through the project's plugin (plugin API v5).
plugin $plugin
plugin_opt_key_file $key_file
plugin_opt_server_user otad
plugin_opt_snapshot_part_size ${OTA_BROKER_PART_SIZE:-1000}
plugin_opt_crl_file $crl_file
# Device messages move to \$ota/p/{partition}/...: each reaches only the otad instance that
# owns its partition, through that partition's persistent session (docs/broker.md,
# "Partition topics").
plugin_opt_partition_topics ${OTA_BROKER_PARTITION_TOPICS:-true}

# Sessions (the server's clean_session=false session above all) survive a broker restart.
persistence true
persistence_location $broker_dir/
autosave_interval 60
persistent_client_expiration 7d

# Limits sized for ~100,000 devices (docs/broker.md, "Limits"). max_queued_messages and
# max_queued_bytes bound each client's queue: the server's session must hold every device
# message and presence event while otad is away; a device receives only the platform's
# pushes (the plugin refuses it anything else), so its queue holds a few. Device payloads
# are at most 8 KiB (docs/device-protocol.md): a packet over 16 KiB is refused and its
# client disconnected. max_inflight_messages is the per-client window of unacknowledged
# QoS 1 messages the broker sends; a larger window lets otad receive bursts at loopback speed.
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 536870912
max_packet_size 16384

log_dest stderr
CONF
for t in ${OTA_BROKER_LOG_TYPES:-error warning notice information}; do
  echo "log_type $t"
done
echo "connection_messages true"
echo "log_timestamp_format %Y-%m-%dT%H:%M:%S"
if [ -n "$run_user" ]; then
  echo "user $run_user"
fi
