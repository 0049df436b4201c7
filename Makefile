# lockpool: build, test and demo targets. CI (.ci/run) runs `make test`.
#
#   make build      debug build of every product
#   make test       build the tests, then run them (fails when any test fails)
#   make test-staged  the resource end-to-end suites against assets/stage.sh's layout, clean environment (in `test`)
#   make release    release build of check, in, out (what /opt/resource gets; see assets/README.md) and lockpool
#   make completions  bash, zsh and fish completion scripts for lockpool, in completions/
#   make manual     the lockpool(1) man page from swift-argument-parser's generate-manual plugin, in .build-man/lockpool.1
#                   (read it with `man -l .build-man/lockpool.1`; assets/stage.sh installs it, so the image ships it)
#   make demo       release build, then examples/demo.sh against the real executables
#   make bench      release build, then benchmarks/bench.py (issue 6's figures and targets; issue 16's history curve of cold
#                   operations at 1 to 200,000 commits beside the git CLI, and over a 50 ms round-trip link between
#                   network namespaces as root; the history readers over a busy week beside git log),
#                   bench-results/bench.json and history-<transport>.svg (with matplotlib); e.g.
#                   BENCH_FLAGS="--only history --history-sizes 1,10k", "--only rtt" or "--only readers"
#   make stress     the full 16 × 50 stress run over git daemon (about 6 minutes)
#   make stage DESTDIR=dir  release build, then the image's layout in dir (assets/stage.sh, as the Dockerfile does)
#   make image-rootfs  the image's root filesystem without Docker (mmdebstrap, as root): sizes, and the resource run in it
#   make fuzz       libFuzzer targets in Fuzz/ (FUZZ_SECONDS each, default 60); see Fuzz/README.md
#   make sanitize   unit tests under AddressSanitizer, then ThreadSanitizer (slow; not part of `make test`)
#
# SWIFT_FLAGS is passed to every swift invocation, e.g. SWIFT_FLAGS="--scratch-path .build-ci".
# TEST_FLAGS is passed to `swift test` only, e.g. TEST_FLAGS="--filter EndToEndTests".

SHELL := /bin/bash
SWIFT ?= swift
SWIFT_FLAGS ?=
TEST_FLAGS ?=
# Swift Testing runs tests in parallel inside one process; XCTest cases (if any) use this many workers.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Every function and datum in a section of its own, Swift's and C's, dependencies' too, so that the linker's
# --gc-sections drops what no product reaches: 0.6 MB off the stripped lockpool, with --no-export-dynamic (Package.swift)
# 2.3 MB (docs/decisions/0014-binary-size.md).
SECTIONS_FLAGS := -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcc -fdata-sections
RELEASE_FLAGS ?= -c release --static-swift-stdlib $(SECTIONS_FLAGS)

.PHONY: all deps-build deps-test build lint test test-staged stress release release-serve completions manual demo bench install stage image-rootfs clean fuzz \
	fuzz-build sanitize

all: build

build:
	$(SWIFT) build $(SWIFT_FLAGS)

# The Debian packages the build (deps-build) or the tests' servers (deps-test) need, installed when missing (as root or
# with passwordless sudo; otherwise the apt-get command is printed): `make demo` and `make test` work on a fresh machine.
deps-build:
	@assets/install-deps.sh build

deps-test:
	@assets/install-deps.sh test

# The suites that load both cores for minutes (16 stress workers, 100 SIGKILLs, 330 bad requests) run in a pass of
# their own, so that they do not stretch the timing bounds of the other end-to-end tests.
HEAVY_SUITES := StressTests|FaultInjectionTests|BadInputCorpus

# Unit tests and end-to-end tests run in two passes: the end-to-end tests spend their time blocked on child processes
# (git, check, in, out), and sharing one process with them starves timing-sensitive unit tests of threads.
#
# The image's binary links FoundationEssentials only: Foundation proper pulls ICU and its 34 MB of data in (issue 8), so
# no source may import it; MemberImportVisibility (Package.swift) keeps its extension members out of reach as well.
# Every module a Swift file in Sources/<Target>/ or Tests/<Target>/ imports is declared for that target in Package.swift
# (assets/lint-imports.py; the toolchain's modules excepted).
FOUNDATION_IMPORT := ^[[:space:]]*(@[[:alnum:]_]+[[:space:]]+)*((public|package|internal)[[:space:]]+)?import[[:space:]]+((struct|class|enum|func|var|let|protocol|typealias)[[:space:]]+)?(Foundation|FoundationNetworking|FoundationInternationalization|FoundationXML)([.[:space:]]|$$)
lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests
	@if grep -rnE '$(FOUNDATION_IMPORT)' Sources; then \
		echo "lint: Sources import FoundationEssentials, never Foundation (it links ICU into the image; CONTRIBUTING.md)" >&2; \
		exit 1; \
	fi
	@if grep -rnw 'SPEC' Sources Tests; then \
		echo "lint: cite the contract in docs/ (e.g. docs/concurrency.md#lost-races), not SPEC (docs/README.md)" >&2; \
		exit 1; \
	fi
	@SWIFT="$(SWIFT)" python3 assets/lint-imports.py
	python3 assets/lint-citations.py

test: deps-test lint manual
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build --parallel --num-workers $(JOBS) --skip EndToEndTests $(SWIFT_FLAGS) $(TEST_FLAGS)
	$(SWIFT) test --skip-build --parallel --num-workers $(JOBS) --filter EndToEndTests --skip "$(HEAVY_SUITES)" \
		$(SWIFT_FLAGS) $(TEST_FLAGS)
	$(SWIFT) test --skip-build --parallel --num-workers $(JOBS) --filter "$(HEAVY_SUITES)" $(SWIFT_FLAGS) $(TEST_FLAGS)
	$(MAKE) test-staged

# The resource end-to-end suites again, against the image's layout staged by assets/stage.sh (check/in/out are links
# to one lockpool binary) and in a container's environment: empty HOME, TMPDIR set, no git (nothing) on PATH. CI stages
# the debug build `make test` just made (a release build would double CI's build time); `make stage` + this target
# with STAGE_BIN=<release bin dir> runs the same against the release binary.
STAGE_DIR ?= $(CURDIR)/.build-stage
STAGE_BIN ?= $$($(SWIFT) build $(SWIFT_FLAGS) --show-bin-path)
STAGED_SUITES ?= OutTests|InTests|CheckTests|MultiLockTests|StartupTests|BadInputCorpusTests
test-staged:
	rm -rf "$(STAGE_DIR)"
	assets/stage.sh "$(STAGE_DIR)" "$(STAGE_BIN)"
	LOCKPOOL_BIN_DIR="$(STAGE_DIR)/opt/resource" LOCKPOOL_CLEAN_ENV=1 $(SWIFT) test --skip-build --parallel \
		--num-workers $(JOBS) --filter "$(STAGED_SUITES)" $(SWIFT_FLAGS)

release:
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product check
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product in
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product out
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product lockpool

# The dashboard server, `lockpool serve` (not in the resource image; docs/decisions/0012-dashboard.md).
release-serve:
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product lockpool-serve

completions: release
	mkdir -p completions
	for shell in bash zsh fish; do \
		"$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)/lockpool" \
			--generate-completion-script $$shell > completions/lockpool.$$shell || exit 1; \
	done

# swift-argument-parser's generate-manual plugin builds every product in MANUAL_CONFIGURATION (debug by default: what
# `make build` and `make test` built already) and writes the page into its work directory; it is copied to MANUAL_DIR.
# MANUAL_DATE, the page's date, is the last commit's, so that the page does not change from one day to the next.
MANUAL_DIR ?= $(CURDIR)/.build-man
MANUAL_CONFIGURATION ?= debug
MANUAL_DATE ?= $(shell git log -1 --format=%cs 2>/dev/null)
manual:
	$(SWIFT) package $(SWIFT_FLAGS) plugin generate-manual --configuration $(MANUAL_CONFIGURATION) \
		$(if $(MANUAL_DATE),--date $(MANUAL_DATE))
	scratch="$$(dirname "$$(dirname "$$($(SWIFT) build $(SWIFT_FLAGS) -c $(MANUAL_CONFIGURATION) --show-bin-path)")")"; \
		install -D -m 0644 "$$scratch/plugins/GenerateManual/outputs/lockpool/lockpool.1" "$(MANUAL_DIR)/lockpool.1"
	@echo "wrote $(MANUAL_DIR)/lockpool.1 (man -l $(MANUAL_DIR)/lockpool.1)"

demo: deps-build release
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

# Issue 7's full stress run: every one of the 16 workers does all 50 cycles (about 6 minutes on 2 cores; `make test` runs
# the same test with a 40-second budget). LOCKPOOL_STRESS_SEED=<seed> replays a run's sequences.
stress:
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	LOCKPOOL_STRESS_BUDGET=0 $(SWIFT) test --skip-build --filter StressTests $(SWIFT_FLAGS)

# Stages the image's layout into DESTDIR with assets/stage.sh (the Dockerfile runs the same): DESTDIR/usr/local/bin/lockpool
# and DESTDIR/opt/resource/{check,in,out}, links to it. DESTDIR must be given: make stage DESTDIR=/tmp/image
stage:
	@[ "$(origin DESTDIR)" != "file" ] || { echo "usage: make stage DESTDIR=<directory>" >&2; exit 64; }
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product lockpool
	assets/stage.sh "$(DESTDIR)" "$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)"

# The image without a Docker engine (needs root, mmdebstrap and the Debian mirror): assets/image-rootfs.sh builds its
# root filesystem in ROOTFS layer by layer from the release build, prints each layer's size, fails past 120 MB, and runs
# check, out (with a metrics push) and in inside it with an empty environment. About 6 minutes with the release build.
ROOTFS ?= $(CURDIR)/.build-image
image-rootfs:
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --product lockpool
	assets/image-rootfs.sh "$(ROOTFS)" "$$($(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_FLAGS) --show-bin-path)"

clean:
	$(SWIFT) package clean $(SWIFT_FLAGS)

# Fuzzing (issue 7): Fuzz/ is its own package, built with -sanitize=fuzzer,address. Each target runs for FUZZ_SECONDS
# from a scratch corpus seeded with Fuzz/Corpus/<target>/ (regressions/ included); new inputs, crashes and the fuzzer's
# log go to Fuzz/Findings/<target>/ (git-ignored). FUZZ_FLAGS is passed to every fuzzer, e.g. FUZZ_FLAGS="-jobs=2".
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_TARGETS := fuzz-request-decoder fuzz-go-duration fuzz-commit-message
FUZZ_SCRATCH ?= Fuzz/.build
FUZZ_BUILD_FLAGS := --package-path Fuzz --scratch-path $(FUZZ_SCRATCH) -c debug \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
fuzz-build:
	$(SWIFT) build $(FUZZ_BUILD_FLAGS)

fuzz: fuzz-build
	bin="$$($(SWIFT) build $(FUZZ_BUILD_FLAGS) --show-bin-path)"; status=0; \
	for target in $(FUZZ_TARGETS); do \
		name="$${target#fuzz-}"; found="Fuzz/Findings/$$name"; \
		mkdir -p "$$found/corpus" "$$found/crashes"; \
		echo "== $$target: $(FUZZ_SECONDS)s, new inputs in $$found/corpus, crashes in $$found/crashes"; \
		"$$bin/$$target" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix="$$found/crashes/" $(FUZZ_FLAGS) \
			"$$found/corpus" "Fuzz/Corpus/$$name" 2>&1 | tee "$$found/log.txt"; \
		[ "$${PIPESTATUS[0]}" -eq 0 ] || { echo "== $$target FAILED: see $$found/crashes"; status=1; }; \
	done; exit $$status

# The unit tests (not EndToEndTests) under AddressSanitizer, then ThreadSanitizer, each in its own scratch path. Slow:
# a full debug build per sanitizer, and the tests run several times slower; not part of `make test`. TSan reads
# suppressions from Fuzz/tsan-suppressions.txt (each one documented there).
ASAN_SCRATCH ?= .build-asan
TSAN_SCRATCH ?= .build-tsan
ASAN_OPTIONS ?= detect_leaks=0
TSAN_OPTIONS ?= suppressions=$(CURDIR)/Fuzz/tsan-suppressions.txt halt_on_error=1
sanitize:
	$(SWIFT) build --build-tests -c debug --sanitize=address --scratch-path $(ASAN_SCRATCH)
	ASAN_OPTIONS="$(ASAN_OPTIONS)" $(SWIFT) test --skip-build -c debug --sanitize=address \
		--scratch-path $(ASAN_SCRATCH) --skip EndToEndTests $(TEST_FLAGS)
	$(SWIFT) build --build-tests -c debug --sanitize=thread --scratch-path $(TSAN_SCRATCH)
	TSAN_OPTIONS="$(TSAN_OPTIONS)" $(SWIFT) test --skip-build -c debug --sanitize=thread \
		--scratch-path $(TSAN_SCRATCH) --skip EndToEndTests $(TEST_FLAGS)
