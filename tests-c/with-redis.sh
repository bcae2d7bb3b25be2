#!/bin/sh
# Runs a command against a redis-server of its own: a free loopback port, no
# persistence, stopped by pid on exit (continued first, if a test froze it).
# The command finds it in LG_TEST_REDIS_URL and LG_TEST_REDIS_PID. A server
# that exits at start (its port taken since it was found free) is retried on
# another port; one that never answers fails the run with a message.
set -eu
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
for try in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize no > /dev/null &
  pid=$!
  answered=
  for i in $(seq 200); do
    if redis-cli -p "$port" ping > /dev/null 2>&1; then answered=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$answered" ] && break
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  echo "with-redis.sh: redis-server on port $port did not answer (try $try)" >&2
done
if [ -z "$pid" ]; then
  echo "with-redis.sh: no redis-server could be started" >&2
  exit 1
fi
LG_TEST_REDIS_URL="redis://127.0.0.1:$port" LG_TEST_REDIS_PID="$pid" "$@"
