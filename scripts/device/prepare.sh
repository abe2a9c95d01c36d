#!/usr/bin/env bash
# Packs, here, what a lent GPU machine lacks for pcam (it has a compiler, CUDA and PyTorch, but no
# Node.js and no network) into .device/ (ignored by git): Node itself (xz), Node-API's four
# headers, and the production dependencies (node-addon-api among them) without ONNX Runtime's
# packages, which are large and which libtorch's GPU predictions never load. dist/ is built here
# too. Then, in two device calls (each may run 600 s at most; the second reuses the first's build):
#   run(command="bash scripts/device/gpu-check.sh tests", carry=[".device", "dist"], timeout_s=560)
#   run(command="bash scripts/device/gpu-check.sh bench", carry=[".device", "dist"], timeout_s=480)
set -euo pipefail
cd "$(dirname "$0")/../.."
make build
rm -rf .device
mkdir -p .device/napi
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >.device/node.xz
for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do
  cp "/usr/include/node/$h" .device/napi/
done
# npm's production tree, as top-level package folders (scoped ones with their scope).
npm ls --omit=dev --all --parseable | sed "s#^$PWD/##" | grep '^node_modules/' |
  awk -F/ '{ print ($2 ~ /^@/) ? $1 "/" $2 "/" $3 : $1 "/" $2 }' | sort -u |
  grep -v '^node_modules/onnxruntime-' >.device/packages.txt
tar -cf - -T .device/packages.txt | xz -T0 -6 >.device/node_modules.tar.xz
# What travels must stay under the device's 64 MiB.
du -sh .device dist
