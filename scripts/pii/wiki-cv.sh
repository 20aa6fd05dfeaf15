#!/bin/bash
# Cross-validation of the span model over wikigold's training articles (never its held-out fifth):
# four --dev models, each with another fifth of the training articles as dev (--wiki-fold 0-3),
# scored span by span by errors.ts; prints each fold, the four pooled, and WNUT17 dev and the
# synth_dataset_v2 dev fifth (fold 3's model). One fold's dev set (~240 names, a few articles)
# moves by several points between settings that differ only in chance; the pooled ~780 names less.
#
#   scripts/pii/wiki-cv.sh OUTDIR [train-model.ts options, e.g. --seed 7 --lr 0.05]
# Per-fold errors (FP/FN lines with their causes) are left in OUTDIR/f0.txt ... f3.txt.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [train-model.ts options]" >&2; exit 2; }
d=$1; shift
mkdir -p "$d"
cd "$(dirname "$0")/../.."
run() { node --import tsx --conditions=source "$@"; }
for f in 0 1 2 3; do
  run scripts/pii/train-model.ts --dev --wiki-fold $f --out "$d/m$f.onnx" "$@" > "$d/train$f.log" 2>&1 || { echo "fold $f: training failed, see $d/train$f.log" >&2; exit 1; }
  run scripts/pii/errors.ts --set wiki-dev --wiki-fold $f --model "$d/m$f.onnx" --type person_name > "$d/f$f.txt" 2>&1 &
done
run scripts/pii/errors.ts --set wnut-dev --model "$d/m3.onnx" --type person_name > "$d/wnut.txt" 2>&1 &
run scripts/pii/errors.ts --set dev --model "$d/m3.onnx" > "$d/synth.txt" 2>&1 &
wait
tp=0 fp=0 fn=0
for f in 0 1 2 3; do
  l=$(grep '^person_name:' "$d/f$f.txt") || { echo "fold $f: no score, see $d/f$f.txt" >&2; exit 1; }
  echo "wikigold fold $f: $l"
  read -r _ _ t _ p _ n _ <<< "$l"
  tp=$((tp + t)) fp=$((fp + p)) fn=$((fn + n))
done
awk -v tp=$tp -v fp=$fp -v fn=$fn 'BEGIN { p = tp / (tp + fp); r = tp / (tp + fn); printf "wikigold 4 folds: TP %d FP %d FN %d P %.3f R %.3f F1 %.3f\n", tp, fp, fn, p, r, 2 * p * r / (p + r) }'
echo "WNUT17 dev: $(grep '^person_name:' "$d/wnut.txt")"
grep -E '^(person_name|street_address):' "$d/synth.txt" | sed 's/^/synth dev: /'
