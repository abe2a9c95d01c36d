# pcam: every target installs what it needs (system packages, npm packages, the native build).
#   make demo    the main job        make test    lint + every test
#   make build   addon + TypeScript  make bench   the engine benchmark against PyTorch
SHELL := /bin/bash
ADDON := native/build/Release/pcam.node
NPM_STAMP := node_modules/.package-lock.json
TS_STAMP := dist/.built
NATIVE_SOURCES := $(wildcard native/src/*) native/binding.gyp native/libtorch.mjs native/openslide.mjs
TS_SOURCES := $(shell find src test bench web -name '*.ts' 2>/dev/null) tsconfig.json web/tsconfig.json

.PHONY: all build test test-gpu test-asan fuzz demo bench lint format clean system-deps test-deps

all: build

system-deps:
	@scripts/setup.sh engine

test-deps:
	@scripts/setup.sh test

# onnxruntime-node's CPU library ships in the package; its install script would only fetch GPU
# extras from outside the npm registry, so it is told to skip them (offline installs work).
$(NPM_STAMP): package.json package-lock.json
	ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

$(ADDON): $(NATIVE_SOURCES) $(NPM_STAMP)
	@scripts/setup.sh engine
	npm run build:native --silent

# dist/ is rebuilt whole, so a renamed or deleted source leaves no stale compiled test behind.
$(TS_STAMP): $(TS_SOURCES) $(NPM_STAMP)
	rm -rf dist
	npx tsc -p tsconfig.json
	npx tsc -p web/tsconfig.json
	@touch $@

build: system-deps $(ADDON) $(TS_STAMP)

# TypeDoc checks the API reference (every exported symbol documented, every link resolved);
# `npm run docs` writes it to docs/api/.
lint: $(NPM_STAMP)
	npx eslint .
	npx prettier --check .
	npx typedoc --emit none

format: $(NPM_STAMP)
	npx prettier --write .

test: build test-deps lint
	node scripts/run-tests.mjs

# The GPU subset against PyTorch on the same GPU (PCAM_DEVICE=cuda:1 for another; =cpu checks the
# same comparisons on the CPU). Needs pcam built against a CUDA libtorch (LIBTORCH, or python3's).
test-gpu: build test-deps
	PCAM_DEVICE=$${PCAM_DEVICE:-cuda} node scripts/run-tests.mjs test/gpu/

# The addon under AddressSanitizer and UndefinedBehaviorSanitizer, with the tests that drive it.
test-asan: build test-deps
	scripts/test-asan.sh

# Every fuzz target for FUZZ_SECONDS each (default ten minutes); make test runs them for seconds.
fuzz: build
	npm run fuzz

demo: build
	scripts/demo.sh

bench: build
	node bin/pcam.js bench engine
	node bin/pcam.js bench data

clean:
	rm -rf dist native/build
