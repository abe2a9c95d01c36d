#!/usr/bin/env bash
# make demo: prepares real patches into a store, draws what the network will see, trains a small
# CNN for one epoch, evaluates it (metrics, charts, top losses) into an HTML report, and measures
# the engine against PyTorch.
# Data: $PCAM_DATA (a folder or zip of any source pcam reads), else the sample beside a development
# checkout (../shared/data/pcam-jpeg), else PCam's validation split downloaded into data/pcam.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/demo
mkdir -p "$out"
source_path="${PCAM_DATA:-../shared/data/pcam-jpeg}"
split_options=()
if [ ! -e "$source_path" ]; then
  echo "No data at $source_path: downloading PCam's validation split (32,768 patches) into data/pcam" >&2
  node bin/pcam.js download pcam --out data/pcam --splits valid
  source_path=data/pcam
  split_options=(--valid-pct 0.2)
fi
node bin/pcam.js data prepare "$source_path" --out "$out/store" --overwrite "${split_options[@]}"
node bin/pcam.js data show "$out/store" --out "$out/train-augmented.png" --augment
rm -rf "$out/small"
node bin/pcam.js train --data "$out/store" --out "$out/small" --arch small --epochs 1 --threshold youden
node bin/pcam.js eval --model "$out/small" --data "$out/store"
node bin/pcam.js bench engine --rounds 1 | tee "$out/bench-engine.txt"
echo
echo "Results are in $out/: store/ (the patch store), train-augmented.png, small/ (the trained"
echo "model, metrics.jsonl, eval/valid/ with charts and top losses), bench-engine.txt."
echo "Open $out/small/report.html in a browser, or serve the model with its web page:"
echo "  node bin/pcam.js serve --model $out/small   (then http://127.0.0.1:8080)"
