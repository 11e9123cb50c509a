# The front door. Each target installs what is missing (Debian packages via scripts/install-deps.sh),
# then configures and builds with the CMake presets. `make run` and `make test` share build/release.
.PHONY: all deps configure build run test bench asan tsan clean

PRESET ?= release

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

# Everything, then every test.
test: configure
	@cmake --build --preset $(PRESET)
	@./scripts/test.sh $(PRESET)

# The benchmark harness (bench/run.sh): both backends, 10k to 1M referrals, about 45 minutes.
bench: configure
	@cmake --build --preset $(PRESET) --target referrald referrald-bench
	@./bench/run.sh

# Debug build and tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	@$(MAKE) --no-print-directory test PRESET=asan

# Debug build and tests under ThreadSanitizer.
tsan:
	@$(MAKE) --no-print-directory test PRESET=tsan

clean:
	rm -rf build
