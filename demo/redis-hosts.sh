#!/usr/bin/env bash
# Two hosts, one set of counters: a redis-server on a free loopback port, and
# each command below a separate process standing in for an app server.
set -euo pipefail
lg=${LOGINGUARD:-target/release/loginguard}
dir=target/demo-redis
rm -rf "$dir" && mkdir -p "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --daemonize no > "$dir/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true' EXIT
until redis-cli -p "$port" ping > /dev/null 2>&1; do sleep 0.05; done
for host in a b; do
  sed "s/@PORT@/$port/" demo/redis.toml.in > "$dir/host-$host.toml"
done
echo "== redis-server on 127.0.0.1:$port (pid $redis_pid); host a and host b each have their own policy file naming it"
echo
echo "== alice fails twice on host a, then twice on host b (from 203.0.113.7)"
for host in a a b b; do
  printf 'host %s: ' "$host"
  "$lg" record-failure --policy "$dir/host-$host.toml" --account alice --ip 203.0.113.7
done
echo
echo "== support looks her up from host a: both hosts' failures count"
"$lg" inspect --policy "$dir/host-a.toml" --account alice --ip 203.0.113.7
echo
echo "== host b's statistics, with what Redis says about itself"
"$lg" stats --policy "$dir/host-b.toml"
echo
echo "== support unlocks alice on host b; host a sees it"
"$lg" reset-account --policy "$dir/host-b.toml" alice
"$lg" inspect --policy "$dir/host-a.toml" --account alice
echo
echo "== every key loginguard wrote has a time to live (fingerprints, never names)"
redis-cli -p "$port" --scan --pattern 'lg1:*' | while read -r key; do
  printf '%s  pttl=%s\n' "$key" "$(redis-cli -p "$port" pttl "$key")"
done
