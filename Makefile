# lockpool: build, test and demo targets. CI (.ci/run) runs `make test`.
#
#   make build      debug build of every product
#   make test       build the tests, then run them (fails when any test fails)
#   make release    release build of check, in, out (what /opt/resource gets; see assets/README.md) and lockpool
#   make completions  bash, zsh and fish completion scripts for lockpool, in completions/
#   make demo       release build, then examples/demo.sh against the real executables
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

# Latency of acquire/release/in/check against the git CLI doing the same change (prints a table, writes JSON).
bench:
	$(SWIFT) build -c release $(SWIFT_FLAGS)
	mkdir -p bench-results
	benchmarks/latency.py "$$($(SWIFT) build -c release $(SWIFT_FLAGS) --show-bin-path)" --json bench-results/latency.json

# Installs the release executables into DESTDIR (default /opt/resource), as the image does.
DESTDIR ?= /opt/resource
install: release
	assets/install.sh "$(DESTDIR)" "$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)"

clean:
	$(SWIFT) package clean $(SWIFT_FLAGS)
