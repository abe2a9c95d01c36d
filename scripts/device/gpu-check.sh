#!/usr/bin/env bash
# Runs on a lent GPU machine (see prepare.sh): unpacks Node, builds the addon with g++ against the
# machine's PyTorch (CUDA and NCCL, without OpenSlide; without NCCL if that part fails to build,
# so the rest still runs), then runs make test-gpu's suite on cuda (parity of ops and training
# steps, NCCL, resuming, the commands end to end) and the engine benchmark in fp32 and bf16
# against PyTorch on the same GPU. Everything it prints also goes to $OUT/gpu-check.log; the
# benchmarks' JSON to $OUT/engine-<precision>.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/pcam-gpu-check}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
mkdir -p /tmp/pcam-node/bin
xz -dc .device/node.xz >/tmp/pcam-node/bin/node && chmod +x /tmp/pcam-node/bin/node
tar -xJf .device/node_modules.tar.xz
export PATH="/tmp/pcam-node/bin:$PATH" PCAM_PYTHON="$(command -v python3)" PCAM_OPENSLIDE=0
# cuda unless told otherwise (PCAM_DEVICE=cpu dry-runs this script on a machine without a GPU).
device=${PCAM_DEVICE:-cuda}
echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv || lscpu | head -20
node --version
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
(cd native && node libtorch.mjs describe)
echo "== build"
build() { time bash scripts/device/build-addon.sh native/build/Release/pcam.node .device/napi node_modules/node-addon-api; }
if ! build; then
  echo "== build failed (errors above); again without NCCL"
  PCAM_NCCL=0 build || exit 1
fi
node --input-type=module -e "
  const t = await import('./dist/src/torch/index.js')
  console.log(JSON.stringify(t.buildInfo()), 'GPUs:', t.cudaDeviceCount())"
echo "== make test-gpu"
SECONDS=0
# Each step has a ceiling, so that one that hangs cannot take the others' time.
PCAM_DEVICE=$device timeout 300 node scripts/run-tests.mjs test/gpu/
status=$?
echo "test-gpu took ${SECONDS} s"
nvidia-smi --query-gpu=memory.used --format=csv 2>/dev/null
echo "== bench engine on $device"
for p in fp32 bf16; do
  timeout 120 node bin/pcam.js bench engine --device "$device" --precision "$p" --steps 50 --json \
    >"$out/engine-$p.json" && cat "$out/engine-$p.json"
done
# The reference study's network and input size, data included, with the GPU's utilisation. The
# store is synthetic (no patches travel here) but has PCam's 96 px, so the loader's work is real.
echo "== bench train resnet50 at 224 px on $device"
node --input-type=module -e "
  const { makeSyntheticStore } = await import('./dist/test/helpers/synthetic-store.js')
  await makeSyntheticStore('/tmp/pcam-bench', { train: 2048, valid: 64, size: 96 })"
# The PyTorch side builds torchvision's ResNet50; without torchvision pcam runs alone.
peer=()
python3 -c 'import torchvision' 2>/dev/null || { peer=(--pcam-only); echo "no torchvision: pcam only"; }
for p in bf16 fp32; do
  timeout 150 node bin/pcam.js bench train --data /tmp/pcam-bench/store --arch resnet50 --size 224 \
    --device "$device" --precision "$p" --batch-size 64 --warmup 5 --steps 25 --rounds 2 --json "${peer[@]}" \
    >"$out/train-resnet50-$p.json" && cat "$out/train-resnet50-$p.json"
done
exit $status
