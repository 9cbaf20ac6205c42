# The Erlang port driver: erlang/priv/kpoll_drv.so, a C client of
# include/kpoll.h with libkpoll linked in statically, and its Erlang module.
#
#   make driver             builds the driver and the kpoll_drv module
#   make test-driver        runs its EUnit suite on every backend this host has
#   make test-driver-asan   the suite again with the driver under ASan+UBSan

DEB_PACKAGES += erlang-base erlang-dev erlang-eunit binutils
TEST_TARGETS += test-driver test-driver-asan

ERL ?= erl
ERLC ?= erlc

DRIVER_SO := erlang/priv/kpoll_drv.so
DRIVER_SRC := erlang/c_src/kpoll_drv.c
DRIVER_MAP := erlang/c_src/kpoll_drv.map
DRIVER_LIB := target/release/libkpoll.a
DRIVER_APP := build/erlang-driver/kpoll
DRIVER_EBIN := $(DRIVER_APP)/ebin
DRIVER_BEAMS := $(DRIVER_EBIN)/kpoll_drv.beam \
	$(DRIVER_EBIN)/kpoll_drv_tests.beam

# erl_driver.h lives under the OTP root; asked only when a recipe needs it.
DRIVER_ERTS_INCLUDE = $(shell $(ERL) -noshell -eval \
	'io:format("~s", [code:root_dir()])' -s init stop)/usr/include
DRIVER_KPOLL_INCLUDE ?= include
DRIVER_CFLAGS ?= -O2 -g
DRIVER_WARNINGS := -std=c11 -Wall -Wextra -Wpedantic -Werror
# What `rustc --print native-static-libs` names for a Linux staticlib.
DRIVER_LDLIBS ?= -lgcc_s -lutil -lrt -lpthread -lm -ldl

.PHONY: driver driver-lib test-driver test-driver-asan

DRIVER_EUNIT := halt(case eunit:test(kpoll_drv_tests, [verbose]) of \
	ok -> 0; _ -> 1 end)

driver: $(DRIVER_SO) $(DRIVER_BEAMS) $(DRIVER_APP)/priv

# Cargo knows best whether libkpoll.a is current, so it is always asked.
driver-lib:
	$(CARGO) build --release -p kpoll

# The version script hides libkpoll and the Rust runtime: only driver_init
# is exported. GNU ld and Linux's native libraries only, for now.
$(DRIVER_SO): $(DRIVER_SRC) $(DRIVER_MAP) driver-lib
	@mkdir -p $(dir $@)
	$(CC) $(DRIVER_WARNINGS) $(DRIVER_CFLAGS) -fPIC -shared \
		-I$(DRIVER_ERTS_INCLUDE) -I$(DRIVER_KPOLL_INCLUDE) \
		-o $@ $(DRIVER_SRC) $(DRIVER_LIB) \
		-Wl,--version-script=$(DRIVER_MAP) -Wl,--exclude-libs,ALL \
		$(DRIVER_LDLIBS) -lc

$(DRIVER_EBIN)/kpoll_drv.beam: erlang/src/kpoll_drv.erl
	@mkdir -p $(DRIVER_EBIN)
	$(ERLC) +debug_info -o $(DRIVER_EBIN) $<

$(DRIVER_EBIN)/kpoll_drv_tests.beam: erlang/test/kpoll_drv_tests.erl
	@mkdir -p $(DRIVER_EBIN)
	$(ERLC) +debug_info -o $(DRIVER_EBIN) $<

# code:priv_dir(kpoll) then finds the driver through this link.
$(DRIVER_APP)/priv:
	@mkdir -p $(DRIVER_APP)
	ln -sfn $(CURDIR)/erlang/priv $@

test-driver: driver
	@exported=$$(nm -D --defined-only $(DRIVER_SO) | awk '$$2 ~ /[TDBRVW]/ \
		{ print $$3 }'); \
	if [ "$$exported" != "driver_init" ]; then \
		echo "kpoll_drv.so exports more than driver_init:" $$exported; \
		exit 1; \
	fi
	$(ERL) -noshell -pa $(DRIVER_EBIN) -eval '$(DRIVER_EUNIT)'

# The sanitized driver lives in an application dir of its own, so that
# code:priv_dir(kpoll) finds it there. ERTS serves driver_alloc from its own
# allocators, out of ASan's sight, unless +Mea min hands them to malloc.
# Leak reports stay off: the BEAM does not free everything at exit, and the
# suite counts fds and threads itself.
DRIVER_ASAN_APP := build/erlang-driver-asan/kpoll
DRIVER_ASAN_SO := $(DRIVER_ASAN_APP)/priv/kpoll_drv.so
DRIVER_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
DRIVER_ASAN_PRELOAD = $(shell $(CC) -print-file-name=libasan.so):$(shell \
	$(CC) -print-file-name=libubsan.so)

$(DRIVER_ASAN_SO): $(DRIVER_SRC) $(DRIVER_MAP) driver-lib
	@mkdir -p $(dir $@)
	$(CC) $(DRIVER_WARNINGS) -O1 -g $(DRIVER_SANITIZE) -fPIC -shared \
		-I$(DRIVER_ERTS_INCLUDE) -I$(DRIVER_KPOLL_INCLUDE) \
		-o $@ $(DRIVER_SRC) $(DRIVER_LIB) \
		-Wl,--version-script=$(DRIVER_MAP) -Wl,--exclude-libs,ALL \
		$(DRIVER_SANITIZE) $(DRIVER_LDLIBS) -lc

$(DRIVER_ASAN_APP)/ebin/%.beam: $(DRIVER_EBIN)/%.beam
	@mkdir -p $(dir $@)
	cp $< $@

test-driver-asan: $(DRIVER_ASAN_SO) $(DRIVER_ASAN_APP)/ebin/kpoll_drv.beam \
		$(DRIVER_ASAN_APP)/ebin/kpoll_drv_tests.beam
	LD_PRELOAD=$(DRIVER_ASAN_PRELOAD) ASAN_OPTIONS=detect_leaks=0 \
		$(ERL) +Mea min -noshell -pa $(DRIVER_ASAN_APP)/ebin \
		-eval '$(DRIVER_EUNIT)'
