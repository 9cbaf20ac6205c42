# Reliability campaigns (RELIABILITY.md): the differential model on every
# backend, fault injection, stress, random arguments at the C ABI under
# ASan and UBSan, random terms at the NIF and the port driver, and the
# fuzz crate.
#
#   make test-reliability     the bounded campaigns, about three minutes
#   make reliability-long     the long run: 10 min of differential
#                             sequences, a minute per backend of threads
#   make fuzz-differential    cargo-fuzz on nightly for FUZZ_SECONDS

DEB_PACKAGES += build-essential erlang-base erlang-dev
TEST_TARGETS += test-reliability

RELIABILITY_BUILD := build/reliability
RELIABILITY_EBIN := $(RELIABILITY_BUILD)/kpoll/ebin
RELIABILITY_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
RELIABILITY_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L \
	-Wall -Wextra -Wpedantic -Werror -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all

KPOLL_DIFF_SECONDS ?= 60
KPOLL_FAULT_SECONDS ?= 3
KPOLL_STRESS_SECONDS ?= 4
KPOLL_STRESS_EVENTS ?= 1000000
C_FUZZ_CALLS ?= 200000
ERLANG_FUZZ_CALLS ?= 20000
FUZZ_SECONDS ?= 300

.PHONY: test-reliability reliability-rust reliability-c reliability-erlang \
	reliability-nif-panic reliability-fuzz reliability-long fuzz-differential

test-reliability: reliability-rust reliability-c reliability-erlang \
	reliability-nif-panic reliability-fuzz
	@echo "test-reliability: all campaigns passed"

reliability-rust:
	KPOLL_DIFF_SECONDS=$(KPOLL_DIFF_SECONDS) \
	KPOLL_FAULT_SECONDS=$(KPOLL_FAULT_SECONDS) \
	KPOLL_STRESS_SECONDS=$(KPOLL_STRESS_SECONDS) \
	KPOLL_STRESS_EVENTS=$(KPOLL_STRESS_EVENTS) \
	$(CARGO) test -q --release -p kpoll --test differential --test faults \
		--test stress -- --nocapture

# Built every time: cargo knows whether libkpoll.a changed, make does not.
reliability-c:
	$(CARGO) build --release -p kpoll
	@mkdir -p $(RELIABILITY_BUILD)
	$(CC) $(RELIABILITY_CFLAGS) -Iinclude -o $(RELIABILITY_BUILD)/random_args \
		tests/c_fuzz/random_args.c target/release/libkpoll.a \
		$(RELIABILITY_LIBS)
	ASAN_OPTIONS=detect_leaks=1 $(RELIABILITY_BUILD)/random_args \
		$(C_FUZZ_CALLS)

# The modules are compiled into an application dir of their own whose priv
# is erlang/priv, where the NIF and the driver are built.
reliability-erlang: erlang-nif driver
	@mkdir -p $(RELIABILITY_EBIN)
	erlc -o $(RELIABILITY_EBIN) erlang/src/kpoll.erl erlang/src/kpoll_drv.erl
	ln -sfn $(CURDIR)/erlang/priv $(RELIABILITY_BUILD)/kpoll/priv
	timeout 600 escript fuzz/erlang/random_terms.escript $(RELIABILITY_EBIN) \
		$(ERLANG_FUZZ_CALLS)

# A panic forced inside the NIF: the NIF built with its fault-injection
# feature (in a target directory of its own, so that the release NIF is
# never that one) beside a copy of the kpoll module. The panic messages go
# to a log; the script's own lines say what was checked.
NIF_PANIC_BUILD := $(RELIABILITY_BUILD)/nif-panic
reliability-nif-panic:
	CARGO_TARGET_DIR=$(CURDIR)/target/fault-injection $(CARGO) build -q \
		--release -p kpoll_nif --features fault-injection
	@mkdir -p $(NIF_PANIC_BUILD)/kpoll/ebin $(NIF_PANIC_BUILD)/kpoll/priv
	cp target/fault-injection/release/libkpoll_nif.so \
		$(NIF_PANIC_BUILD)/kpoll/priv/libkpoll_nif.so
	erlc -o $(NIF_PANIC_BUILD)/kpoll/ebin erlang/src/kpoll.erl
	RUST_BACKTRACE=0 timeout 120 escript fuzz/erlang/nif_panic.escript \
		$(NIF_PANIC_BUILD)/kpoll/ebin 2> $(NIF_PANIC_BUILD)/panics.log
	@echo "panic messages logged: $$(grep -c 'fault injection' \
		$(NIF_PANIC_BUILD)/panics.log)"

# The fuzz target's stable driver, over the committed seeds and random
# inputs; cargo-fuzz itself needs nightly (fuzz-differential).
reliability-fuzz:
	$(CARGO) run -q --release --locked --manifest-path fuzz/Cargo.toml \
		--no-default-features --bin replay -- fuzz/corpus/differential \
		--random 200

reliability-long:
	$(MAKE) --no-print-directory test-reliability KPOLL_DIFF_SECONDS=600 \
		KPOLL_STRESS_SECONDS=60 KPOLL_FAULT_SECONDS=10 \
		C_FUZZ_CALLS=2000000 ERLANG_FUZZ_CALLS=200000

fuzz-differential:
	cd fuzz && $(CARGO) +nightly fuzz run differential corpus/differential \
		-- -max_total_time=$(FUZZ_SECONDS) -max_len=4096
