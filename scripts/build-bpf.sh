#!/bin/sh
# Rebuilds the committed BPF objects in bpf/ from their sources, byte for byte
# reproducibly: fixed flags, relative source paths, no DWARF (BTF kept, since
# libbpf needs it for the map definitions).
#
#   scripts/build-bpf.sh            rebuild bpf/*.bpf.o in place
#   scripts/build-bpf.sh OUTDIR     write the objects to OUTDIR instead
#
# Pinned to Debian's clang 14 (the objects differ byte-wise between clang
# majors); set CLANG/LLVM_STRIP to override at your own risk.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bpf}
CLANG=${CLANG:-clang}
LLVM_STRIP=${LLVM_STRIP:-llvm-strip}
want_major=14

command -v "$CLANG" >/dev/null 2>&1 || { echo "build-bpf: $CLANG not found (apt-get install clang llvm libbpf-dev)" >&2; exit 1; }
command -v "$LLVM_STRIP" >/dev/null 2>&1 || { echo "build-bpf: $LLVM_STRIP not found (apt-get install llvm)" >&2; exit 1; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "build-bpf: libbpf headers missing (apt-get install libbpf-dev)" >&2; exit 1; }
major=$("$CLANG" -dumpversion | cut -d. -f1)
if [ "$major" != "$want_major" ]; then
  echo "build-bpf: clang $major found, the committed objects are built with clang $want_major" >&2
  exit 1
fi
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
case $(uname -m) in x86_64) arch=x86 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
mkdir -p "$out"
cd "$root/bpf"
for src in *.bpf.c; do
  obj="$out/${src%.c}.o"
  "$CLANG" -target bpf -mcpu=v2 -O2 -g -Wall -Werror \
    -fno-ident -fdebug-prefix-map="$root/bpf"=. -fdebug-compilation-dir=. \
    -I/usr/include/"$multiarch" -D__TARGET_ARCH_"$arch" \
    -c "$src" -o "$obj.tmp"
  "$LLVM_STRIP" -g "$obj.tmp" -o "$obj"
  rm -f "$obj.tmp"
  echo "build-bpf: $src -> $obj"
done
