#!/usr/bin/env bash
# make test-asan: the addon built with AddressSanitizer and UndefinedBehaviorSanitizer (Debian's
# gcc has both), and the tests that drive it run against that build. Node and libtorch are not
# instrumented, so the sanitizer runtimes are preloaded; leaks are not checked (V8 and libtorch
# keep process-lifetime allocations), every other finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=native-asan
rm -rf "$out"
mkdir -p "$out"
cp native/binding.gyp native/libtorch.mjs native/openslide.mjs "$out"/
ln -s ../native/src "$out"/src
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
  npx node-gyp rebuild --directory "$out" -j 2 --silent
export PCAM_NATIVE_ADDON="$PWD/$out/build/Release/pcam.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# allocator_may_return_null: an impossible allocation is an out-of-memory error pcam reports (tested).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The addon's own tests, and those that reach its slide, optimizer and process-group code.
node scripts/run-tests.mjs test/native/
node scripts/run-tests.mjs test/slide/
node scripts/run-tests.mjs test/learn/optimizer
node scripts/run-tests.mjs test/distributed/backends
