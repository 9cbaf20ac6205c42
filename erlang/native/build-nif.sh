#!/bin/sh
# Builds the kpoll NIF and copies it to priv/, for rebar3 and make.
# CARGO and CARGO_TARGET_DIR are honoured as cargo itself honours them.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

"${CARGO:-cargo}" build --release --quiet -p kpoll_nif \
    --manifest-path "$root/Cargo.toml"
mkdir -p "$here/priv"
cp "$target/release/libkpoll_nif.so" "$here/priv/libkpoll_nif.so.tmp"
mv "$here/priv/libkpoll_nif.so.tmp" "$here/priv/libkpoll_nif.so"
