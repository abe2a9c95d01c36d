#!/usr/bin/env bash
# Packs, here, what a lent GPU machine lacks for pcam (it has a compiler, CUDA and PyTorch, but no
# Node.js and no network) into .device/ (ignored by git): Node itself (xz), Node-API's four
# headers and node-addon-api. dist/ is built here too. Then, in one device call:
#   run(command="bash scripts/device/gpu-check.sh", carry=[".device", "dist"], timeout_s=480)
set -euo pipefail
cd "$(dirname "$0")/../.."
make build
rm -rf .device
mkdir -p .device/napi
xz -T0 -6 -c "$(readlink -f "$(command -v node)")" >.device/node.xz
for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do
  cp "/usr/include/node/$h" .device/napi/
done
cp -r node_modules/node-addon-api .device/node-addon-api
# What travels must stay under the device's 64 MiB.
du -sh .device dist
