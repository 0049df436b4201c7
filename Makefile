# lockpool: build, test and demo targets. CI (.ci/run) runs `make test`.
#
#   make build      debug build of every product
#   make test       build the tests, then run them (fails when any test fails)
#   make release    release build of check, in, out (what /opt/resource gets; see assets/README.md) and lockpool
#   make completions  bash, zsh and fish completion scripts for lockpool, in completions/
#   make demo       release build, then examples/demo.sh against the real executables
#   make bench      release build, then benchmarks/bench.py (issue 6's figures and targets), bench-results/bench.json
#
# SWIFT_FLAGS is passed to every swift invocation, e.g. SWIFT_FLAGS="--scratch-path .build-ci".
# TEST_FLAGS is passed to `swift test` only, e.g. TEST_FLAGS="--filter EndToEndTests".

SHELL := /bin/bash
SWIFT ?= swift
SWIFT_FLAGS ?=
TEST_FLAGS ?=
# Swift Testing runs tests in parallel inside one process; XCTest cases (if any) use this many workers.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE_FLAGS ?= -c release --static-swift-stdlib

.PHONY: all build lint test release completions demo bench install clean

all: build

build:
	$(SWIFT) build $(SWIFT_FLAGS)

# Unit tests and end-to-end tests run in two passes: the end-to-end tests spend their time blocked on child processes
# (git, check, in, out), and sharing one process with them starves timing-sensitive unit tests of threads.
lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests

test: lint
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build --parallel --num-workers $(JOBS) --skip EndToEndTests $(SWIFT_FLAGS) $(TEST_FLAGS)
	$(SWIFT) test --skip-build --parallel --num-workers $(JOBS) --filter EndToEndTests $(SWIFT_FLAGS) $(TEST_FLAGS)

release:
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product check
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product in
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product out
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product lockpool

completions: release
	mkdir -p completions
	for shell in bash zsh fish; do \
		"$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)/lockpool" \
			--generate-completion-script $$shell > completions/lockpool.$$shell || exit 1; \
	done

demo: release
	examples/demo.sh "$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)"

# Issue 6's benchmark on the release executables: prints the tables and a summary against the targets, writes
# bench-results/bench.json. BENCH_FLAGS is passed to benchmarks/bench.py, e.g. BENCH_FLAGS="--quick" or
# BENCH_FLAGS="--workers 4 --cycles 5" (see benchmarks/bench.py --help).
BENCH_FLAGS ?=
bench: release
	mkdir -p bench-results
	benchmarks/bench.py "$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)" \
		--json bench-results/bench.json $(BENCH_FLAGS)

# Installs the release executables into DESTDIR (default /opt/resource), as the image does.
DESTDIR ?= /opt/resource
install: release
	assets/install.sh "$(DESTDIR)" "$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)"

clean:
	$(SWIFT) package clean $(SWIFT_FLAGS)
