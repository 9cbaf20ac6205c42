# The demo and the benchmarks.
#
#   make demo         the cost of one event on epoll, poll and select as idle
#                     connections grow from 100 to 9,900: table and SVG chart
#   make bench        kpoll beside the raw syscalls, libevent, libev, mio and
#                     polling on one workload, plus registration, wake
#                     latency, memory per fd and allocations per wait
#   make bench-smoke  both, seconds long, checking only that they ran sanely
#   make bench-callgrind  user-space instructions per wait of kpoll's C ABI
#                     and of the raw loops: the overhead without the noise

DEB_PACKAGES += build-essential libevent-dev libev-dev erlang-base erlang-dev
TEST_TARGETS += bench-smoke

BENCH_TARGET_DIR ?= $(CURDIR)/target
BENCH_BIN := $(BENCH_TARGET_DIR)/release
BENCH_C_OUT := $(BENCH_TARGET_DIR)/bench-c
BENCH_DEMO_OUT := $(BENCH_TARGET_DIR)/demo
BENCH_CC ?= cc
BENCH_CFLAGS := -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror
BENCH_C_COMMON := bench/c/workload.c bench/c/workload.h
BENCH_C_LOOPS := raw_epoll raw_poll raw_select libevent_loop libev_loop
BENCH_LIBS_libevent_loop := -levent_core
BENCH_LIBS_libev_loop := -lev
# Through the C ABI too, once the header exists.
ifneq ($(wildcard include/kpoll.h),)
BENCH_C_LOOPS += kpoll_loop
endif
BENCH_KPOLL_A := $(BENCH_BIN)/libkpoll.a
BENCH_LIBS_kpoll_loop := $(BENCH_KPOLL_A) -lpthread -ldl -lm -lrt -lutil

BENCH_ERL_APP := $(BENCH_TARGET_DIR)/bench-erlang/kpoll
BENCH_ERL_EBIN := $(BENCH_ERL_APP)/ebin
BENCH_ERL_SRC := erlang/src/kpoll.erl erlang/src/kpoll_drv.erl \
	bench/erlang/kpoll_bench.erl

.PHONY: demo bench bench-smoke bench-c bench-rust bench-kpoll-lib bench-erlang \
	bench-callgrind

bench-rust:
	$(CARGO) build --release -p kpoll-bench

bench-kpoll-lib:
	$(CARGO) build --release -p kpoll

$(BENCH_C_OUT)/%: bench/c/%.c $(BENCH_C_COMMON)
	@mkdir -p $(BENCH_C_OUT)
	$(BENCH_CC) $(BENCH_CFLAGS) -Iinclude -o $@ $< bench/c/workload.c \
		$(BENCH_LIBS_$*)

# libkpoll.a is cargo's to keep current: always ask it, then relink.
$(BENCH_C_OUT)/kpoll_loop: bench-kpoll-lib

bench-c:
	@tools/ensure-deps build-essential libevent-dev libev-dev
	@$(MAKE) --no-print-directory $(addprefix $(BENCH_C_OUT)/,$(BENCH_C_LOOPS))

# The NIF, the driver and their modules, laid out as an application
# directory so that both find their libraries through code:priv_dir/1.
bench-erlang:
	erlang/native/build-nif.sh
	$(MAKE) --no-print-directory driver
	@mkdir -p $(BENCH_ERL_EBIN) $(BENCH_ERL_APP)/priv
	erlc -Wall -o $(BENCH_ERL_EBIN) $(BENCH_ERL_SRC)
	cp erlang/priv/libkpoll_nif.so erlang/priv/kpoll_drv.so \
		$(BENCH_ERL_APP)/priv/

# The Erlang part runs when it builds; otherwise the bench says so and
# goes on without it.
BENCH_WITH_ERLANG = if $(MAKE) --no-print-directory bench-erlang; then \
		erlang="--erlang-ebin $(BENCH_ERL_EBIN)"; \
	else \
		echo "bench: the Erlang part did not build; skipped" >&2; \
		erlang=""; \
	fi

demo:
	@tools/ensure-deps build-essential
	$(CARGO) build --release -p kpoll-bench --bin kpoll-demo
	$(BENCH_BIN)/kpoll-demo --out $(BENCH_DEMO_OUT)

bench: bench-c bench-rust
	@$(BENCH_WITH_ERLANG); \
	echo "$(BENCH_BIN)/kpoll-bench --c-dir $(BENCH_C_OUT) $$erlang"; \
	$(BENCH_BIN)/kpoll-bench --c-dir $(BENCH_C_OUT) $$erlang

bench-smoke: bench-c bench-rust
	$(CARGO) test -p kpoll-bench
	$(BENCH_BIN)/kpoll-demo --smoke --out $(BENCH_TARGET_DIR)/demo-smoke
	@$(BENCH_WITH_ERLANG); \
	$(BENCH_BIN)/kpoll-bench --smoke --c-dir $(BENCH_C_OUT) $$erlang

bench-callgrind: bench-c
	@tools/ensure-deps valgrind
	bench/callgrind.sh $(BENCH_C_OUT)
