#!/usr/bin/env bash
# Builds the native addon with g++ alone, without node-gyp or Node's full headers: for a machine
# that has a compiler and libtorch but no npm toolchain (a lent GPU machine). It reads the same
# settings as binding.gyp (native/libtorch.mjs, native/openslide.mjs) and compiles the sources in
# parallel. Usage: build-addon.sh <out.node> <folder holding node_api.h> <node-addon-api folder>
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1 napi=$2 addon_api=$3
setting() { (cd native && node libtorch.mjs "$1") }
slide() { (cd native && node openslide.mjs "$1") }
includes=(-I"$napi" -I"$addon_api")
for dir in $(setting include_dirs) $(slide include_dirs); do includes+=(-I"$dir"); done
defines=(-DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS)
for d in $(setting defines) $(slide defines); do defines+=(-D"$d"); done
# binding.gyp's own list (it is plain JSON), so the two builds cannot drift apart.
sources=()
for s in $(node -p "JSON.parse(require('fs').readFileSync('native/binding.gyp', 'utf8'))
  .targets[0].sources.filter((s) => !s.startsWith('<!')).join(' ')") $(slide sources); do
  sources+=("native/$s")
done
objects=$(mktemp -d)
trap 'rm -rf "$objects"' EXIT
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} sh -c \
  'g++ -c -fPIC -O2 -fexceptions -frtti -Wno-unused-parameter "$@" {} -o '"$objects"'/$(basename {} .cc).o' \
  sh "$(setting cxx_standard)" "${includes[@]}" "${defines[@]}"
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2046
g++ -shared -o "$out" "$objects"/*.o $(setting ldflags) $(setting libraries) $(slide libraries) -ldl
echo "built $out"
