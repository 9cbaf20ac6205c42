#!/bin/sh
# User-space instructions per wait of each C loop, counted by callgrind:
# the event loop's own cost with the kernel's and the noise of a shared
# machine taken out. The callback (one read, one write) is the same code in
# every loop and is subtracted. kpoll's C ABI, libevent and libev are set
# beside the raw loop of each method. Usage: bench/callgrind.sh [C_DIR]
set -eu

dir=${1:-target/bench-c}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rounds=3

# Inclusive Ir of one function of the harness, from callgrind_annotate.
inclusive() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v f="???:$2" '{ for (i = 2; i <= NF; i++) if ($i == f) {
            gsub(",", "", $1); print $1; exit } }'
}

printf '| loop | N | A | waits per round | instructions per wait |'
printf ' per event | more than raw, per event |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for config in "100 1 100" "9900 1 100" "9900 100 1000"; do
    set -- $config
    n=$1 a=$2 w=$3
    for method in epoll poll select; do
        raw=""
        peers=""
        [ "$method" = select ] || peers="libevent_loop libev_loop"
        for bin in "raw_$method" kpoll_loop $peers; do
            [ -x "$dir/$bin" ] || continue
            file="$out/$bin.$method.$n.$a"
            line=$(valgrind --tool=callgrind --callgrind-out-file="$file" \
                "$dir/$bin" -n "$n" -a "$a" -w "$w" -r "$rounds" \
                -m "$method" \
                2>/dev/null)
            # Waits per round, over the timed rounds and the warm-up.
            waits=$(echo "$line" | sed -n 's/.* waits=\([0-9]*\).*/\1/p')
            total=$((waits * (rounds + 1)))
            run=$(inclusive "$file" run)
            cb=$(inclusive "$file" workload_on_readable)
            per=$(( (run - cb) / total ))
            per_event=$(( (run - cb) / ((a + w) * (rounds + 1)) ))
            [ -z "$raw" ] && raw=$per_event
            extra=$((per_event - raw))
            name=$(echo "$line" | sed -n 's/^impl=\([^ ]*\).*/\1/p')
            printf '| %s/%s | %s | %s | %s | %s | %s | %s |\n' \
                "$name" "$method" "$n" "$a" "$waits" "$per" "$per_event" \
                "$extra"
        done
    done
done
