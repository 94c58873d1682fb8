#!/usr/bin/env bash
# Runs Node >= 22 whatever `node` is on PATH: npm scripts go through this, so `npm start` and
# `npm test` work on a machine whose system Node is older (Node 24 is then installed into .tools/).
set -euo pipefail
bin="$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure-node.sh")"
export PATH="$bin:$PATH"
exec "$bin/node" "$@"
