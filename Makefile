# kpoll: `make test` builds and runs everything the project has; `make demo`
# shows what kernel polling buys; `make bench` sets kpoll beside its peers.
#
# Each part of the project adds its own rules in mk/*.mk and appends its test
# target to TEST_TARGETS and the Debian packages it needs to DEB_PACKAGES.

CARGO ?= cargo
PREFIX ?= /usr/local

TEST_TARGETS :=
DEB_PACKAGES :=

.PHONY: all build test deps check-format clippy test-rust clean

all: build

include $(sort $(wildcard mk/*.mk))

build:
	$(CARGO) build --release -p kpoll

# Installs missing Debian packages when run as root, or names them otherwise.
deps:
	@tools/ensure-deps $(sort $(DEB_PACKAGES))

test: deps check-format clippy test-rust $(TEST_TARGETS)
	@echo "make test: all suites passed"

check-format:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test -p kpoll

clean:
	$(CARGO) clean
