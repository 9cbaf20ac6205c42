#!/bin/sh
# Builds the kpoll NIF and copies it to priv/, for rebar3 and make.
# CARGO and CARGO_TARGET_DIR are honoured as cargo itself honours them;
# KPOLL_NIF_PREBUILT=1 skips the build when priv/ holds the NIF already
# (make builds it before it runs rebar3).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

if [ "${KPOLL_NIF_PREBUILT:-}" = 1 ] && [ -f "$here/priv/libkpoll_nif.so" ]; then
    exit 0
fi

"${CARGO:-cargo}" build --release --quiet -p kpoll_nif \
    --manifest-path "$root/Cargo.toml"
mkdir -p "$here/priv"
cp "$target/release/libkpoll_nif.so" "$here/priv/libkpoll_nif.so.tmp"
mv "$here/priv/libkpoll_nif.so.tmp" "$here/priv/libkpoll_nif.so"
