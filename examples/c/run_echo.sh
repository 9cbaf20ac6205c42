#!/bin/sh
# Runs the echo server on BACKEND and its client with N connections, and
# checks that the client saw every echo and the server held all N at once.
#
#   run_echo.sh BUILD_DIR BACKEND N
set -eu

build=$1
backend=$2
count=$3
out=$(mktemp)
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT

"$build/echo_server" "$backend" 0 > "$out" &
server=$!

# Wait for the server's port (10 s at most).
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "run_echo: server did not start" >&2; exit 1; }

start=$(date +%s.%N)
status=0
timeout 120 "$build/echo_client" "$port" "$count" || status=$?
end=$(date +%s.%N)

kill -TERM "$server"
wait "$server" || status=$?
cat "$out"
grep -qx "peak $count connections" "$out" || status=1
echo "run_echo: $backend, $count connections," \
    "$(awk "BEGIN { printf \"%.2f\", $end - $start }") s, status $status"
exit "$status"
