# rill: the user's entry points. Everything real happens in CMake; this file
# only strings the steps together so that `make run` and `make test` work as
# the first commands on a fresh Debian 12 machine.
#
#   make deps    install missing Debian packages (apt-get; needs root)
#   make build   configure and build (build/), and the dashboard (web/dist)
#   make run     deps + build, then `rill serve` on the demo source
#   make test    deps + build, then every test suite
#   make bench   deps + build (optimised), run the benchmarks, write bench/results.json
#   make screenshots  pictures of the dashboard in docs/img (headless Chromium)
#   make install install to PREFIX (default /usr/local)
#   make clean   remove build directories

BUILD    ?= build
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
# CI builds with -Werror; a user's build only warns.
WERROR   ?= $(if $(CI),ON,OFF)
CMAKE_FLAGS ?=

.PHONY: all deps web build run test bench screenshots install clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	      -DRILL_WERROR=$(WERROR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

# The dashboard: `make deps` ran `npm ci` in web/; Vite rebuilds web/dist
# when a source changed. `rill serve` finds it through $(BUILD)/share/rill/web.
WEB_SRC := $(shell find web/src web/index.html web/package.json web/package-lock.json \
                   web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)
web/dist/index.html: $(WEB_SRC)
	cd web && npm run --silent build

web: deps web/dist/index.html

build: deps web $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The main job: `rill serve` on the built-in demo source. Extra options:
#   make run ARGS="--port 6000 --log-dir /tmp"
ARGS ?=
run: build
	$(BUILD)/bin/rill serve --source demo $(ARGS)

test: build
	@scripts/test.sh $(BUILD) -j $(JOBS)

bench: build
	@scripts/bench.sh $(BUILD)

screenshots: build
	RILL_BIN=$(CURDIR)/$(BUILD)/bin/rill node tests/web/screenshots.mjs docs/img

install: build
	cmake --install $(BUILD)

clean:
	rm -rf build build-* bench/results.json web/dist
