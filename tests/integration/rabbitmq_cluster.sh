#!/usr/bin/env bash
# A RabbitMQ cluster of this machine's own, for tests (docs/broker.md, "RabbitMQ"): every node
# with its own name, ports, data and log folders under DIR, its own Erlang cookie and its own
# epmd port, so nothing touches a system-wide RabbitMQ (service, epmd on 4369, /var/lib).
#
#   rabbitmq_cluster.sh start DIR EPMD_PORT OTAD_URL NODE_SPEC...
#       NODE_SPEC = AMQP_PORT:DIST_PORT:MQTT_PORT:MGMT_PORT, one per node; the first node is
#       started, the others join it. Plugins: rabbitmq_mqtt, rabbitmq_auth_backend_http (the
#       device logins and topic ACL: OTAD_URL/api/v1/broker/rabbitmq/<token>/...; the token
#       is in DIR/broker.token), rabbitmq_management (presence, and this script's checks).
#       The management user "ota-admin" (password in DIR/admin.pass) is internal.
#   rabbitmq_cluster.sh stop-node DIR I        stops node I (1-based) cleanly
#   rabbitmq_cluster.sh kill-node DIR I        SIGKILL of node I's Erlang VM
#   rabbitmq_cluster.sh stop DIR               stops every node still running, and their epmd
#   rabbitmq_cluster.sh ctl DIR I ARGS...      rabbitmqctl against node I
# Logs: DIR/nN/log/. Waits are bounded (60 s a node: Erlang starts slowly on a loaded machine).
set -euo pipefail
RMQ=/usr/lib/rabbitmq/bin
cmd=$1 dir=$2
shift 2
host=$(hostname -s)

node_env() { # I -> exports the environment of node I
  local i=$1 spec
  spec=$(sed -n "${i}p" "$dir/nodes")
  IFS=: read -r amqp dist mqtt mgmt <<< "$spec"
  export HOME=$dir/home
  export ERL_EPMD_PORT=$(cat "$dir/epmd.port")
  export RABBITMQ_NODENAME=ota$i-$(cat "$dir/tag")@$host RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$amqp RABBITMQ_DIST_PORT=$dist
  export RABBITMQ_MNESIA_BASE=$dir/n$i/mnesia RABBITMQ_LOG_BASE=$dir/n$i/log
  export RABBITMQ_CONFIG_FILE=$dir/n$i/rabbitmq RABBITMQ_ADVANCED_CONFIG_FILE=$dir/n$i/advanced.config
  export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_PID_FILE=$dir/n$i/pid
  export RABBITMQ_CONF_ENV_FILE=$dir/n$i/rabbitmq-env.conf
  export RABBITMQ_LOGS=$dir/n$i/log/node.log
  export RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_listen_min $dist inet_dist_listen_max $dist -kernel inet_dist_use_interface {127,0,0,1}"
  NODE=$RABBITMQ_NODENAME
}

ctl() { # I ARGS...
  local i=$1
  shift
  (node_env "$i"; "$RMQ/rabbitmqctl" -n "$NODE" "$@")
}

wait_node() { # I: until the node runs its applications (90 s at most)
  local i=$1 t
  for ((t = 0; t < 90; t++)); do
    (node_env "$i"; timeout 20 "$RMQ/rabbitmqctl" -n "$NODE" await_startup --timeout 15 >/dev/null 2>&1) && return 0
    sleep 1
  done
  return 1
}

case $cmd in
start)
  epmd_port=$1 otad=$2
  shift 2
  mkdir -p "$dir/home"
  printf '%s\n' "$@" > "$dir/nodes"
  echo "$epmd_port" > "$dir/epmd.port"
  openssl rand -hex 4 > "$dir/tag"
  # the cluster's own cookie, readable by the owner alone (Erlang refuses it otherwise)
  openssl rand -hex 20 | tr -d '\n' > "$dir/home/.erlang.cookie"
  chmod 400 "$dir/home/.erlang.cookie"
  openssl rand -hex 12 > "$dir/admin.pass"
  echo '[rabbitmq_mqtt,rabbitmq_auth_backend_http,rabbitmq_management].' > "$dir/enabled_plugins"
  token=$(cat "$dir/broker.token")
  # the cluster's own epmd, started here so that its pid is known (Erlang would start one
  # that outlives the nodes)
  ( exec setsid epmd -port "$epmd_port" > "$dir/epmd.log" 2>&1 ) &
  echo $! > "$dir/epmd.pid"
  n=$#
  for ((i = 1; i <= n; i++)); do
    node_env "$i"
    mkdir -p "$dir/n$i/mnesia" "$dir/n$i/log"
    : > "$RABBITMQ_CONF_ENV_FILE"
    cat > "$dir/n$i/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
mqtt.listeners.tcp.1 = 127.0.0.1:$mqtt
management.tcp.ip = 127.0.0.1
management.tcp.port = $mgmt
mqtt.allow_anonymous = false
mqtt.vhost = /
mqtt.exchange = amq.topic
loopback_users = none
auth_backends.1 = internal
auth_backends.2 = http
auth_http.http_method = post
auth_http.user_path = $otad/api/v1/broker/rabbitmq/$token/user
auth_http.vhost_path = $otad/api/v1/broker/rabbitmq/$token/vhost
auth_http.resource_path = $otad/api/v1/broker/rabbitmq/$token/resource
auth_http.topic_path = $otad/api/v1/broker/rabbitmq/$token/topic
log.file.level = info
log.console = false
CONF
    echo '[].' > "$dir/n$i/advanced.config"
  done
  for ((i = 1; i <= n; i++)); do
    ( node_env "$i"; exec setsid "$RMQ/rabbitmq-server" > "$dir/n$i/log/stdout.log" 2>&1 ) &
    echo $! > "$dir/n$i/shell.pid"
    if [ "$i" = 1 ]; then
      wait_node 1 || { echo "rabbitmq_cluster: node 1 did not start" >&2; tail -20 "$dir/n1/log/stdout.log" >&2; exit 1; }
      ctl 1 add_user ota-admin "$(cat "$dir/admin.pass")" >/dev/null
      ctl 1 set_user_tags ota-admin administrator >/dev/null
      ctl 1 set_permissions -p / ota-admin '.*' '.*' '.*' >/dev/null
    else
      wait_node "$i" || { echo "rabbitmq_cluster: node $i did not start" >&2; tail -20 "$dir/n$i/log/stdout.log" >&2; exit 1; }
      ctl "$i" stop_app >/dev/null
      ctl "$i" join_cluster "$(node_env 1; echo "$NODE")" >/dev/null
      ctl "$i" start_app >/dev/null
      wait_node "$i"
    fi
  done
  ;;
stop-node)
  ctl "$1" stop >/dev/null 2>&1 || true
  ;;
kill-node)
  pid=$(cat "$dir/n$1/pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  ;;
stop)
  n=$(wc -l < "$dir/nodes")
  for ((i = n; i >= 1; i--)); do
    ctl "$i" stop >/dev/null 2>&1 || true
  done
  for ((i = 1; i <= n; i++)); do # a node that did not stop in time
    pid=$(cat "$dir/n$i/pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  pid=$(cat "$dir/epmd.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  ;;
ctl)
  i=$1
  shift
  ctl "$i" "$@"
  ;;
*)
  echo "usage: $0 start|stop-node|kill-node|stop|ctl DIR ..." >&2
  exit 2
  ;;
esac
