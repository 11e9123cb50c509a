# The front door. Each target installs what is missing (Debian packages via scripts/install-deps.sh),
# then configures and builds with the CMake presets. `make run` and `make test` share build/release.
.PHONY: all deps configure build run test bench asan tsan fuzz fuzz-long clean

PRESET ?= release
# The tests that race threads or processes on purpose: what `make tsan` runs (a CTest regex).
RACE_TESTS ?= Race|Concurrent|GroupCommit|MultiInstance|Overlapping|AcrossInstances|StartingTogether|PoolWaits|WorkerTest|Sigterm
# make fuzz-long FUZZ_SECONDS=600 FUZZ_TARGETS="request jwt"
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

# The server only: what `make run` needs.
build: configure
	@cmake --build --preset $(PRESET) --target referrald

run: build
	@./scripts/run.sh

# Everything, then every test, then a one-minute run of every fuzz target (build/asan).
test: configure
	@cmake --build --preset $(PRESET)
	@./scripts/test.sh $(PRESET)
	@$(MAKE) --no-print-directory fuzz

# The benchmark harness (bench/run.sh): both backends, 10k to 1M referrals, about 45 minutes;
# then the write routes beside the baseline revision (bench/compare-writes.sh, about 12 minutes).
bench: configure
	@cmake --build --preset $(PRESET) --target referrald referrald-bench
	@./bench/run.sh
	@./bench/compare-writes.sh

# The fuzz targets (clang, ASan + UBSan + libFuzzer, build/asan): replay fuzz/regressions/, then
# about 8 s each on a copy of fuzz/corpus/.
fuzz: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan --target referrald_fuzz_targets
	@./scripts/fuzz.sh smoke

# FUZZ_SECONDS (default 600) for each target, two at a time; findings under build/fuzz-artifacts/.
fuzz-long: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan --target referrald_fuzz_targets
	@./scripts/fuzz.sh long $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Every test under AddressSanitizer + UndefinedBehaviorSanitizer (clang, build/asan).
asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan --target referrald referrald_unit_tests referrald_db_tests
	@./scripts/test.sh asan

# The race tests (RACE_TESTS) under ThreadSanitizer (g++, build/tsan); RACE_TESTS=. for all.
tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan --target referrald referrald_unit_tests referrald_db_tests
	@./scripts/test.sh tsan -R '$(RACE_TESTS)'

clean:
	rm -rf build
