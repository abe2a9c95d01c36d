#!/usr/bin/env bash
# Runs on a lent GPU machine (see prepare.sh): unpacks Node, builds the addon with g++ against the
# machine's PyTorch (CUDA and NCCL, without OpenSlide; without NCCL if that part fails to build,
# so the rest still runs), then:
#   tests  make test-gpu's suite on cuda: parity of ops and training steps, NCCL, batches,
#          resuming, the commands end to end;
#   bench  bench engine in fp32 and bf16, and bench train with ResNet50 at 224 px (the reference
#          study's setting) with the GPU's utilisation, each against PyTorch on the same GPU.
# Usage: gpu-check.sh [tests|bench|all] (default all). A device call may run 600 s at most, so a
# slow machine gets two calls, tests then bench; the second reuses the addon the first built.
# Every step has a ceiling, so that one that hangs cannot take the others' time. Everything it
# prints also goes to $OUT/gpu-check-<part>.log, the benchmarks' JSON to $OUT/*.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
part=${1:-all}
case $part in tests | bench | all) ;; *) echo "usage: gpu-check.sh [tests|bench|all]" >&2; exit 2 ;; esac
out=${OUT:-/tmp/pcam-gpu-check}
mkdir -p "$out"
exec > >(tee "$out/gpu-check-$part.log") 2>&1
mkdir -p /tmp/pcam-node/bin
xz -dc .device/node.xz >/tmp/pcam-node/bin/node && chmod +x /tmp/pcam-node/bin/node
[ -d node_modules/node-addon-api ] || tar -xJf .device/node_modules.tar.xz
export PATH="/tmp/pcam-node/bin:$PATH" PCAM_PYTHON="$(command -v python3)" PCAM_OPENSLIDE=0
# cuda unless told otherwise (PCAM_DEVICE=cpu dry-runs this script on a machine without a GPU).
device=${PCAM_DEVICE:-cuda}
echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv || lscpu | head -20
node --version
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
addon=native/build/Release/pcam.node
if [ ! -f "$addon" ] || [ "$part" != bench ]; then
  (cd native && node libtorch.mjs describe)
  echo "== build"
  build() { time timeout 240 bash scripts/device/build-addon.sh "$addon" .device/napi node_modules/node-addon-api; }
  if ! build; then
    echo "== build failed (errors above); again without NCCL"
    PCAM_NCCL=0 build || exit 1
  fi
fi
node --input-type=module -e "
  const t = await import('./dist/src/torch/index.js')
  console.log(JSON.stringify(t.buildInfo()), 'GPUs:', t.cudaDeviceCount(), 'c10d:', t.distributedBackends())"
status=0
if [ "$part" != bench ]; then
  echo "== make test-gpu"
  SECONDS=0
  PCAM_DEVICE=$device timeout 240 node scripts/run-tests.mjs test/gpu/
  status=$?
  echo "test-gpu took ${SECONDS} s"
  nvidia-smi --query-gpu=memory.used --format=csv 2>/dev/null
fi
if [ "$part" != tests ]; then
  echo "== bench engine on $device"
  for p in fp32 bf16; do
    timeout 90 node bin/pcam.js bench engine --device "$device" --precision "$p" --steps 50 --json \
      >"$out/engine-$p.json" && cat "$out/engine-$p.json"
  done
  # The store is synthetic (no patches travel here) but has PCam's 96 px, so the loader's work
  # is real.
  echo "== bench train resnet50 at 224 px on $device"
  timeout 60 node --input-type=module -e "
    const { makeSyntheticStore } = await import('./dist/test/helpers/synthetic-store.js')
    await makeSyntheticStore('/tmp/pcam-bench', { train: 2048, valid: 64, size: 96 })"
  # The PyTorch side builds torchvision's ResNet50; without torchvision pcam runs alone.
  peer=()
  python3 -c 'import torchvision' 2>/dev/null || { peer=(--pcam-only); echo "no torchvision: pcam only"; }
  for p in bf16 fp32; do
    timeout 90 node bin/pcam.js bench train --data /tmp/pcam-bench/store --arch resnet50 --size 224 \
      --device "$device" --precision "$p" --batch-size 64 --warmup 5 --steps 25 --rounds 2 --json \
      ${peer[@]+"${peer[@]}"} >"$out/train-resnet50-$p.json" && cat "$out/train-resnet50-$p.json"
  done
fi
exit $status
