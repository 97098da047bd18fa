#!/usr/bin/env bash
# `make test-fresh` / `make test-fresh-run`: the README's commands on a bare Debian 12, as a new
# user would type them. Needs root and a network path to the Debian mirror (and npm) the host
# uses; never part of `make test` (it downloads and installs everything: 30-60 min).
#
#   bash scripts/test-fresh.sh [test|run]
#
# 1. `debootstrap --variant=minbase bookworm` into a root folder. The bootstrapped root is kept
#    as a tarball in OTA_FRESH_CACHE (default /var/cache/ota-test-fresh; OTA_FRESH_REFRESH=1
#    makes it again); every run unpacks it into a new folder under OTA_FRESH_DIR (default
#    /var/tmp), so a run starts from a pristine root.
# 2. Copies in what downloads need to work as on the host: apt sources, the apt settings that
#    say how to reach them (the apt.conf.d files with Acquire:: lines), their keys, the trusted
#    CA certificates (the local ones; NODE_EXTRA_CA_CERTS passed on when set), /etc/hosts and
#    /etc/resolv.conf. Nothing else of the host: no Node.js
#    packaging but Debian's. /usr/sbin/policy-rc.d refuses service starts, as usual in a
#    chroot: nothing runs an init system there, so the postinst of mosquitto and postgresql
#    would otherwise start daemons on the host's network (ports 1883 and 5432).
# 3. Clones this repository's committed HEAD into /root/ota of the root.
# 4. In new PID and mount namespaces: mounts /proc (a proc of the new PID namespace), binds
#    /sys, /dev, /dev/pts and /dev/shm (chromium needs both), chroots in and runs, as root:
#    test  `make deps-test` and the browser tests' `npm ci` (tests/browser/run.sh
#          --install-only) with the network, then `make test` in a network namespace of its
#          own with only loopback up: PostgreSQL's cluster (port 5432), the brokers and
#          servers of the tests cannot meet the host's (the host runs its own cluster on
#          5432, other users their mosquitto and otad), and the host's cannot be reached.
#    run   `make deps build`, then `make run` on the host's network, its five listeners
#          (OTA_HTTP_ADDR, OTA_HTTPS_ADDR, OTA_MQTT_ADDR, OTA_MQTTS_ADDR, OTA_MQTTS_CERT_ADDR) on
#          loopback ports free at that moment; this script waits for GET /api/v1/health to
#          answer 200 from outside the root (plain, then HTTPS with the CA make run made),
#          prints the answers, and stops it.
# 5. Ends every process it started in the root: SIGTERM to all of the PID namespace, SIGKILL
#    to what is left 20 s later, and the namespace's end kills the rest; the mounts go with
#    the mount namespace. Also on failure, Ctrl-C or SIGTERM. The root folder is removed
#    unless OTA_FRESH_KEEP=1.
# OTA_FRESH_MAKE: the make targets the test mode runs (default: test), e.g.
# "build test-browser" to try one part on a bare machine.
# Exit status: that of `make test` (test), 0 when health answered 200 (run).
set -euo pipefail

# a loopback port nothing listens on, below the ephemeral range (where outgoing connections
# would take it at any moment)
free_port() {
  local p
  while true; do
    p=$((20000 + RANDOM % 12000))
    [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
  done
}

if [ "${1:-}" = --inside ]; then
  # --- PID 1 of the new namespaces: mount, chroot, run, end everything ------------------
  mode=$2 r=$3
  shift 3
  targets=${OTA_FRESH_MAKE:-test}
  say() { printf 'test-fresh: %s\n' "$*" >&2; }
  # the environment in the root: a login's basics; the host's extra CA file setting for Node.js
  root_env=(HOME=/root LANG=C.UTF-8 "TERM=${TERM:-dumb}" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && root_env+=("NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")
  mount -t proc proc "$r/proc"
  mount --bind /sys "$r/sys"
  mount --bind /dev "$r/dev"
  mount --bind /dev/pts "$r/dev/pts"
  mount --bind /dev/shm "$r/dev/shm"
  in_root() {
    chroot "$r" /usr/bin/env -i "${root_env[@]}" "$@"
  }
  # left: every process of this PID namespace but this one (no subshell, which would count)
  left=()
  others() {
    local p
    left=()
    for p in "$r"/proc/[0-9]*; do
      p=${p##*/}
      [ "$p" != 1 ] && [ -e "$r/proc/$p/stat" ] && left+=("$p")
    done
    return 0
  }
  end_all() {
    local i
    others
    [ ${#left[@]} -gt 0 ] || return 0
    say "ending the processes left in the root: ${left[*]}"
    kill -TERM -1 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      others
      [ ${#left[@]} -gt 0 ] || return 0
      sleep 0.1
    done
    kill -KILL -1 2>/dev/null || true
  }
  job=""
  stop() {
    trap '' INT TERM
    say "stopping"
    end_all
    exit "$1"
  }
  trap 'stop 130' INT
  trap 'stop 143' TERM
  # wait for a background job, so that a signal interrupts the wait
  run_job() {
    "$@" &
    job=$!
    local rc=0
    wait "$job" || rc=$?
    job=""
    return $rc
  }
  rc=0
  # The README's first step on a bare Debian 12 (minbase has no make; git is not needed in
  # here: the repository was cloned from outside).
  run_job in_root bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null' || rc=$?
  [ $rc -eq 0 ] || { say "apt-get install make failed"; end_all; exit $rc; }
  case "$mode" in
    test)
      in_root bash -c 'echo "test-fresh: node $(command -v node >/dev/null && node --version || echo "(not installed yet)")"'
      run_job in_root bash -c 'cd /root/ota && make deps-test && bash tests/browser/run.sh build --install-only' || rc=$?
      if [ $rc -eq 0 ]; then
        in_root bash -c 'echo "test-fresh: $(command -v node) $(node --version), npm $(npm --version), $(dpkg-query -W -f="\${Package} \${Version}" nodejs)"'
        # own network namespace, loopback only (see the header)
        run_job unshare --net bash -c 'ip link set lo up && exec "$@"' lo-up \
          chroot "$r" /usr/bin/env -i "${root_env[@]}" bash -c "cd /root/ota && make $targets" || rc=$?
      fi
      ;;
    run)
      # install and build first (make run does both again, finding nothing to do), then take
      # the ports: free ones, just before they are used; the host side reads them from $1
      run_job in_root bash -c 'cd /root/ota && make deps build' || rc=$?
      if [ $rc -eq 0 ]; then
        ports=()
        while [ ${#ports[@]} -lt 5 ]; do
          p=$(free_port)
          [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
        done
        http=127.0.0.1:${ports[0]} https=127.0.0.1:${ports[1]}
        echo "$http $https" > "$1.tmp" && mv "$1.tmp" "$1"
        run_job in_root bash -c "cd /root/ota && OTA_HTTP_ADDR=$http OTA_PUBLIC_URL=http://$http OTA_MQTT_ADDR=127.0.0.1:${ports[2]} \
          OTA_HTTPS_ADDR=$https OTA_MQTTS_ADDR=127.0.0.1:${ports[3]} OTA_MQTTS_CERT_ADDR=127.0.0.1:${ports[4]} make run" || rc=$?
      fi
      ;;
  esac
  say "in-root command ended (status $rc)"
  end_all
  exit $rc
fi

# --- on the host ------------------------------------------------------------------------
mode=${1:-test}
case "$mode" in test | run) ;; *) echo "usage: $0 [test|run]" >&2; exit 2 ;; esac
say() { printf 'test-fresh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, mounts, chroot)"
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
head=$(git -C "$repo" rev-parse HEAD)
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] ||
  say "warning: $repo has uncommitted changes; the root gets the committed HEAD ${head:0:12} only"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} on the host"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The host's Debian mirror (the first bookworm source that is not the security one).
mirror=${OTA_FRESH_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *\([^ ]*\/debian\/\{0,1\}\)$/\1/p' | head -n 1)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

cache=${OTA_FRESH_CACHE:-/var/cache/ota-test-fresh}
tarball=$cache/bookworm-minbase-$(dpkg --print-architecture).tar.gz
work=$(mktemp -d "${OTA_FRESH_DIR:-/var/tmp}/ota-fresh.XXXXXX")
r=$work/root
us_pid=""

ns_init() { [ -n "$us_pid" ] && cat "/proc/$us_pid/task/$us_pid/children" 2>/dev/null | awk '{print $1}'; }
cleanup() {
  local rc=$? i p
  trap '' INT TERM
  if [ -n "$us_pid" ] && kill -0 "$us_pid" 2>/dev/null; then
    p=$(ns_init)
    if [ -n "$p" ]; then
      kill -TERM "$p" 2>/dev/null || true
      for ((i = 0; i < 300; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      # SIGKILL to a PID namespace's first process kills all of the namespace
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    fi
    wait "$us_pid" 2>/dev/null || true
  fi
  if grep -q " $work/" /proc/self/mountinfo; then
    say "something is still mounted under $work; not removing it"
  elif [ "${OTA_FRESH_KEEP:-0}" = 1 ]; then
    say "root kept in $r (OTA_FRESH_KEEP=1)"
  else
    rm -rf --one-file-system "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ ! -f "$tarball" ] || [ "${OTA_FRESH_REFRESH:-0}" = 1 ]; then
  say "debootstrap --variant=minbase bookworm from $mirror"
  mkdir -p "$cache" "$work/boot"
  debootstrap --variant=minbase bookworm "$work/boot" "$mirror" > "$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  tar -C "$work/boot" --numeric-owner -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$work/boot"
fi
say "unpacking a pristine root from $tarball into $r"
mkdir -p "$r"
tar -C "$r" --numeric-owner -xpzf "$tarball"

# apt: sources, the settings they need, their keys
rm -f "$r/etc/apt/sources.list"
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$r/etc/apt/"
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && cp "$f" "$r/etc/apt/sources.list.d/"
done
for f in /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && grep -q '^[[:space:]]*Acquire' "$f" && cp "$f" "$r/etc/apt/apt.conf.d/"
done
[ -f /etc/apt/trusted.gpg ] && cp /etc/apt/trusted.gpg "$r/etc/apt/"
for d in trusted.gpg.d keyrings auth.conf.d; do
  [ -d "/etc/apt/$d" ] && mkdir -p "$r/etc/apt/$d" && cp -a "/etc/apt/$d/." "$r/etc/apt/$d/"
done
for k in $(cat "$r"/etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^Signed-By: *\(\/[^ ]*\)$/\1/p'); do
  [ -e "$r$k" ] || { mkdir -p "$r$(dirname "$k")" && cp "$k" "$r$k"; }
done
# trusted CA certificates: the host's local ones (its own /etc/ssl/certs bundle is not copied,
# so a root without the ca-certificates package trusts nothing, as on a real machine; the
# package's update-ca-certificates adds these)
mkdir -p "$r/usr/local/share/ca-certificates"
[ -d /usr/local/share/ca-certificates ] && cp -a /usr/local/share/ca-certificates/. "$r/usr/local/share/ca-certificates/"
cp /etc/hosts "$r/etc/hosts"
cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\n# scripts/test-fresh.sh: no service starts in this chroot\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
chmod 0755 "$r/usr/sbin/policy-rc.d"

say "cloning $repo at ${head:0:12} into /root/ota"
git clone -q --no-hardlinks "$repo" "$r/root/ota"
git -C "$r/root/ota" checkout -q --detach "$head"

args=()
[ "$mode" = run ] && args=("$work/http-addr")
say "mode $mode: in new PID and mount namespaces, chroot $r"
unshare --mount --propagation private --pid --fork bash "$self" --inside "$mode" "$r" "${args[@]}" &
us_pid=$!

if [ "$mode" = test ]; then
  rc=0
  wait "$us_pid" || rc=$?
  us_pid=""
  say "make ${OTA_FRESH_MAKE:-test} in the fresh root: $([ $rc -eq 0 ] && echo passed || echo "failed (status $rc)")"
  exit $rc
fi

# run: health from outside the root (make run installs and builds first: allow 60 min), on
# the plain listener and on the HTTPS one with the CA make run printed (DATA/keys/ca.pem)
ca=$r/root/ota/data/keys/ca.pem
health() { # URL [curl options]: prints the status; the body goes to $work/health.json
  local url=$1
  shift
  curl -s -o "$work/health.json" -w '%{http_code}' --max-time 5 "$@" "$url/api/v1/health" || true
}
code=""
http=""
for ((i = 0; i < 3600; i++)); do
  kill -0 "$us_pid" 2>/dev/null || break
  if [ -z "$http" ]; then
    [ -f "$work/http-addr" ] || { sleep 1; continue; }
    read -r http https < "$work/http-addr"
    say "waiting for http://$http/api/v1/health from outside the root"
  fi
  code=$(health "http://$http")
  [ "$code" = 200 ] && break
  sleep 1
done
if [ "$code" != 200 ]; then
  say "no 200 from /api/v1/health (last status: ${code:-none})"
  exit 1
fi
say "GET http://$http/api/v1/health from the host: $code $(cat "$work/health.json")"
if [ -f "$ca" ]; then
  code=$(health "https://$https" --cacert "$ca")
  say "GET https://$https/api/v1/health (--cacert data/keys/ca.pem) from the host: $code $(cat "$work/health.json")"
  [ "$code" = 200 ] || { say "HTTPS health failed"; exit 1; }
fi
say "stopping make run"
p=$(ns_init)
[ -n "$p" ] && kill -TERM "$p"
wait "$us_pid" || true
us_pid=""
say "make run in the fresh root: healthy, stopped"
