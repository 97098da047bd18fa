# Entry points. `make run` and `make test` are the two commands of the README.
# The real build is CMake; this file only strings the steps together.
BUILD      ?= build
BUILD_SAN  ?= build-asan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps deps-test build build-tests build-asan run test test-fresh test-fresh-run test-unit test-integration test-asan test-pg test-rabbitmq test-browser test-fuzz bench fuzz clean format

all: build

deps:
	@bash scripts/install-deps.sh build run

deps-test:
	@bash scripts/install-deps.sh build run test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# `build` makes the tests when cmocka is there (OTA_TESTS=AUTO); the test targets ask for them
# (OTA_TESTS=ON fails without cmocka), also in a build folder `make run` configured without them.
build-tests: $(BUILD)/CMakeCache.txt
	@grep -q '^OTA_TESTS:STRING=ON$$' $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DOTA_TESTS=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD_SAN)/CMakeCache.txt:
	CC=clang cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DOTA_SANITIZE=ON -DOTA_FUZZ=ON -DOTA_TESTS=ON

build-asan: $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j $(JOBS)

# Installs what is missing, builds, starts the broker and otad in the foreground.
run: deps build
	@bash scripts/run.sh $(BUILD)

test: deps-test
	@$(MAKE) --no-print-directory build-tests
	cd $(BUILD) && ctest --output-on-failure -j 2 $(CTEST_ARGS)
	@$(MAKE) --no-print-directory test-pg
	@$(MAKE) --no-print-directory test-rabbitmq
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-fuzz
	@$(MAKE) --no-print-directory test-browser

test-unit: build-tests
	cd $(BUILD) && ctest --output-on-failure -L unit $(CTEST_ARGS)

test-integration: build-tests
	cd $(BUILD) && ctest --output-on-failure -L integration $(CTEST_ARGS)

# The PostgreSQL store's unit tests and the whole integration suite again, on a local
# PostgreSQL cluster (started by the script; docs/postgresql.md).
test-pg: build-tests
	CTEST_ARGS="-j 2 --output-on-failure $(CTEST_ARGS)" bash scripts/pg-test.sh $(BUILD)

# otad on a two-node RabbitMQ cluster of its own (tests/integration/test_rabbitmq.c,
# docs/broker.md "RabbitMQ"); part of `make test`, in a step of its own because it needs
# OTA_TEST_RABBITMQ=1 and two Erlang nodes take about a minute to start. Installs Debian's
# rabbitmq-server when missing (scripts/deps.txt lists it; its system service is not used).
test-rabbitmq: build-tests
	@test -x /usr/lib/rabbitmq/bin/rabbitmq-server || { echo "installing rabbitmq-server"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q rabbitmq-server >/dev/null; \
	  else sudo apt-get install -y -q rabbitmq-server >/dev/null; fi; }
	cd $(BUILD) && OTA_TEST_RABBITMQ=1 ctest --output-on-failure -R '^test_rabbitmq$$' $(CTEST_ARGS)

# The same unit and integration tests under AddressSanitizer and UBSan.
test-asan: build-asan
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2 -L 'unit|integration' $(CTEST_ARGS)

# Each libFuzzer target runs for a short time on its seed corpus.
test-fuzz: build-asan
	@bash scripts/fuzz-smoke.sh $(BUILD_SAN) $${FUZZ_SMOKE_SECONDS:-10}

# Every libFuzzer target for FUZZ_SECONDS (default 600) each, merging what it finds into
# tests/fuzz/corpus/<target>/ (minimised); prints executions per second and coverage.
fuzz: build-asan
	@bash scripts/fuzz-run.sh $(BUILD_SAN) $${FUZZ_SECONDS:-600}

test-browser: build
	@if [ -f tests/browser/run.sh ]; then bash tests/browser/run.sh $(BUILD); else echo "no browser tests yet"; fi

# A bare Debian 12 root (debootstrap) with this repository's HEAD cloned in, `make test` run
# inside as root (test-fresh-run: `make run`, health checked from outside). Needs root;
# never part of `make test`. scripts/test-fresh.sh says what it does.
test-fresh:
	@bash scripts/test-fresh.sh $(or $(MODE),test)

test-fresh-run:
	@bash scripts/test-fresh.sh run

bench: deps-test build
	@bash bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
