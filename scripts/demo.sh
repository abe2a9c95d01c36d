#!/usr/bin/env bash
# make demo: prepares real patches into a store, draws what the network will see, trains a small
# CNN for one epoch and reports its validation ROC AUC, and measures the engine against PyTorch. Data: $PCAM_DATA (a folder or zip of any source pcam reads), else the
# sample beside a development checkout (../shared/data/pcam-jpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/demo
mkdir -p "$out"
source_path="${PCAM_DATA:-../shared/data/pcam-jpeg}"
if [ -e "$source_path" ]; then
  node bin/pcam.js data prepare "$source_path" --out "$out/store" --overwrite
  node bin/pcam.js data show "$out/store" --out "$out/train-augmented.png" --augment
  rm -rf "$out/small"
  node bin/pcam.js train --data "$out/store" --out "$out/small" --arch small --epochs 1 --bf16
else
  echo "No data at $source_path: set PCAM_DATA to a PCam, Kaggle or class-folder source" >&2
  echo "(or fetch PCam with: npx pcam download pcam --out data/pcam). Skipping the data steps." >&2
fi
node bin/pcam.js bench engine --rounds 1 | tee "$out/bench-engine.txt"
echo
echo "Results are in $out/: store/ (the patch store), train-augmented.png, small/ (the trained"
echo "model, metrics.jsonl), bench-engine.txt"
