#!/bin/sh
# Fails when a committed BPF object in bpf/ is not what scripts/build-bpf.sh
# produces from the current sources (CI runs this).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/build-bpf.sh" "$tmp" >/dev/null
status=0
for fresh in "$tmp"/*.o; do
  name=$(basename "$fresh")
  if ! cmp -s "$fresh" "$root/bpf/$name"; then
    echo "check-bpf: bpf/$name is stale or missing: run scripts/build-bpf.sh and commit it" >&2
    status=1
  fi
done
for committed in "$root"/bpf/*.o; do
  [ -e "$committed" ] || continue
  [ -e "$tmp/$(basename "$committed")" ] || { echo "check-bpf: bpf/$(basename "$committed") has no source" >&2; status=1; }
done
[ $status -eq 0 ] && echo "check-bpf: committed BPF objects are current"
exit $status
