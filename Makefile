# The front door. Each target installs what is missing (Debian packages via scripts/install-deps.sh),
# then configures and builds with the CMake presets. `make run` and `make test` share build/release.
.PHONY: all deps build run test dev asan clean

PRESET ?= release

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET)

run: build
	@./scripts/run.sh

test: build
	@./scripts/test.sh $(PRESET)

# Debug build and tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	@$(MAKE) --no-print-directory test PRESET=asan

clean:
	rm -rf build
