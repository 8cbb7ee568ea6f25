#!/usr/bin/env bash
# Builds the browser client (tickwire-web: the client netcode as WebAssembly) into
# netcode/web/pkg, where the admin address serves it for /play. Needs the wasm32 target and
# wasm-bindgen-cli at the version Cargo.lock pins wasm-bindgen to; installs both if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " ${version}\$"; then
  cargo install wasm-bindgen-cli --version "$version"
fi
# No debug info in what a browser downloads.
CARGO_PROFILE_RELEASE_DEBUG=false cargo build -p tickwire-web --target wasm32-unknown-unknown --release --locked
wasm-bindgen --target web --no-typescript --out-dir netcode/web/pkg \
  target/wasm32-unknown-unknown/release/tickwire_web.wasm
ls -l netcode/web/pkg
