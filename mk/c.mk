# The C ABI: the generated header, libkpoll.so / libkpoll.a, their install
# with a pkg-config file, and the C tests that use them as C users do.
#
#   make header          regenerate include/kpoll.h from src/ffi.rs
#   make check-header    fail when the committed header is stale
#   make install PREFIX=/usr/local
#   make test-c          everything below, plain, as C++, ASan+UBSan, valgrind
#   make example-c-echo  the echo server holding 10,000 connections

DEB_PACKAGES += build-essential pkg-config valgrind binutils
TEST_TARGETS += test-c

CBINDGEN_VERSION := 0.29.4
CBINDGEN_ROOT := $(CURDIR)/target/tools/cbindgen-$(CBINDGEN_VERSION)
CBINDGEN := $(CBINDGEN_ROOT)/bin/cbindgen

KPOLL_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | \
	head -n 1)
KPOLL_MAJOR := $(firstword $(subst ., ,$(KPOLL_VERSION)))
CARGO_TARGET_DIR ?= $(CURDIR)/target
C_RELEASE := $(CARGO_TARGET_DIR)/release
C_BUILD := $(CURDIR)/build/c
C_STAGE := $(C_BUILD)/stage

# What rustc --print native-static-libs names for the static library.
# TODO: this is Linux with glibc's list; elsewhere set KPOLL_LIBS_PRIVATE.
KPOLL_LIBS_PRIVATE ?= -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

C_WARN := -Wall -Wextra -Wpedantic -Werror
C_STD := -std=c99 -D_POSIX_C_SOURCE=200809L
CXX_STD := -x c++ -std=c++11 -D_POSIX_C_SOURCE=200809L
C_TEST_SRC := c_tests/harness.c c_tests/test_api.c c_tests/test_semantics.c
C_TEST_DEPS := $(C_TEST_SRC) c_tests/harness.h include/kpoll.h
VALGRIND_FLAGS := --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --track-fds=no --quiet

# The header's bit macros are unsigned hexadecimal, as DESIGN.md writes them;
# cbindgen prints every integer constant in decimal.
C_HEX_BITS := awk '$$1 ~ /define$$/ && \
	$$2 ~ /^KPOLL_(READABLE|WRITABLE|PRIORITY|ERROR|HANGUP|ONESHOT|EDGE)$$/ \
	{ $$3 = sprintf("0x%02xu", $$3) } { print }'

.PHONY: header check-header c-lib install install-c c-stage test-c \
	c-test-plain c-test-cxx c-test-asan c-test-valgrind c-test-install \
	c-test-readme c-test-echo example-c-echo

$(CBINDGEN):
	$(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked \
		--root $(CBINDGEN_ROOT)

header: $(CBINDGEN)
	$(CBINDGEN) -q --config cbindgen.toml src/ffi.rs | $(C_HEX_BITS) \
		> include/kpoll.h

check-header: $(CBINDGEN)
	@mkdir -p $(C_BUILD)
	$(CBINDGEN) -q --config cbindgen.toml src/ffi.rs | $(C_HEX_BITS) \
		> $(C_BUILD)/kpoll.h
	@diff -u include/kpoll.h $(C_BUILD)/kpoll.h || \
		{ echo "include/kpoll.h is stale: run 'make header'" >&2; exit 1; }

c-lib:
	$(CARGO) build --release -p kpoll

# lib/libkpoll.so.X.Y.Z with the soname link libkpoll.so.X and the link-time
# name libkpoll.so, lib/libkpoll.a, include/kpoll.h, lib/pkgconfig/kpoll.pc.
# TODO: ELF names only; macOS wants libkpoll.X.dylib (build.rs sets it).
install: install-c

install-c: c-lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(C_RELEASE)/libkpoll.so \
		$(DESTDIR)$(PREFIX)/lib/libkpoll.so.$(KPOLL_VERSION)
	ln -sf libkpoll.so.$(KPOLL_VERSION) \
		$(DESTDIR)$(PREFIX)/lib/libkpoll.so.$(KPOLL_MAJOR)
	ln -sf libkpoll.so.$(KPOLL_MAJOR) $(DESTDIR)$(PREFIX)/lib/libkpoll.so
	install -m 644 $(C_RELEASE)/libkpoll.a $(DESTDIR)$(PREFIX)/lib/libkpoll.a
	install -m 644 include/kpoll.h $(DESTDIR)$(PREFIX)/include/kpoll.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(KPOLL_VERSION)|g' \
		-e 's|@LIBS_PRIVATE@|$(KPOLL_LIBS_PRIVATE)|g' kpoll.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/kpoll.pc

# An install into build/c/stage, which the tests below link against.
c-stage:
	rm -rf $(C_STAGE)
	$(MAKE) --no-print-directory install-c PREFIX=$(C_STAGE) DESTDIR=

C_STAGE_PC := PKG_CONFIG_PATH=$(C_STAGE)/lib/pkgconfig
C_SHARED = $$($(C_STAGE_PC) pkg-config --cflags --libs kpoll) \
	-Wl,-rpath,$(C_STAGE)/lib -lpthread
C_STATIC = -I$(C_STAGE)/include $(C_STAGE)/lib/libkpoll.a $(KPOLL_LIBS_PRIVATE)

test-c: check-header c-stage
	$(MAKE) --no-print-directory c-test-install c-test-plain c-test-cxx \
		c-test-asan c-test-valgrind c-test-readme c-test-echo
	@echo "test-c: all C suites passed"

# The soname, and exactly the functions the header declares exported.
c-test-install:
	readelf -d $(C_STAGE)/lib/libkpoll.so.$(KPOLL_VERSION) | \
		grep -q 'SONAME.*\[libkpoll.so.$(KPOLL_MAJOR)\]'
	test "$$(readlink $(C_STAGE)/lib/libkpoll.so.$(KPOLL_MAJOR))" = \
		libkpoll.so.$(KPOLL_VERSION)
	nm -D --defined-only $(C_STAGE)/lib/libkpoll.so | awk '{ print $$3 }' | \
		sort > $(C_BUILD)/exported.txt
	sed -n 's/^[a-z].* \**\(kpoll_[a-z_]*\)(.*/\1/p' include/kpoll.h | \
		sort > $(C_BUILD)/declared.txt
	test -s $(C_BUILD)/declared.txt
	diff -u $(C_BUILD)/declared.txt $(C_BUILD)/exported.txt

c-test-plain:
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) $(C_WARN) -o $(C_BUILD)/kpoll_test $(C_TEST_SRC) \
		$(C_SHARED)
	$(C_BUILD)/kpoll_test

c-test-cxx:
	@mkdir -p $(C_BUILD)
	$(CXX) $(CXX_STD) $(C_WARN) -o $(C_BUILD)/kpoll_test_cxx $(C_TEST_SRC) \
		$(C_STATIC)
	$(C_BUILD)/kpoll_test_cxx

c-test-asan:
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) $(C_WARN) -g -fsanitize=address,undefined \
		-fno-omit-frame-pointer -fno-sanitize-recover=all \
		-o $(C_BUILD)/kpoll_test_asan $(C_TEST_SRC) $(C_STATIC)
	ASAN_OPTIONS=detect_leaks=1 $(C_BUILD)/kpoll_test_asan

c-test-valgrind: c-test-plain
	valgrind $(VALGRIND_FLAGS) $(C_BUILD)/kpoll_test

# The README's example, which must be the README's text, built with each of
# the README's commands: pkg-config and by hand, shared and static.
C_README := $(C_BUILD)/readme
C_README_CC := $(CC) -std=c99 $(C_WARN) examples/c/readme_example.c

c-test-readme:
	@mkdir -p $(C_README)
	sed -n '/^<!-- readme_example.c -->$$/,/^```$$/p' README.md | \
		sed '1,2d;$$d' > $(C_README)/from_readme.c
	diff -u examples/c/readme_example.c $(C_README)/from_readme.c
	export $(C_STAGE_PC); PREFIX=$(C_STAGE); \
	$(C_README_CC) -o $(C_README)/pc_shared \
		$$(pkg-config --cflags --libs kpoll) && \
	$(C_README_CC) -o $(C_README)/pc_static $$(pkg-config --cflags kpoll) \
		$$(pkg-config --variable=static_libs kpoll) && \
	$(C_README_CC) -o $(C_README)/hand_shared -I$$PREFIX/include \
		-L$$PREFIX/lib -lkpoll -Wl,-rpath,$$PREFIX/lib && \
	$(C_README_CC) -o $(C_README)/hand_static -I$$PREFIX/include \
		$$PREFIX/lib/libkpoll.a $(KPOLL_LIBS_PRIVATE)
	! readelf -d $(C_README)/pc_static | grep -q libkpoll
	! readelf -d $(C_README)/hand_static | grep -q libkpoll
	LD_LIBRARY_PATH=$(C_STAGE)/lib $(C_README)/pc_shared
	$(C_README)/pc_static
	$(C_README)/hand_shared
	$(C_README)/hand_static

C_ECHO_BIN := $(C_BUILD)/echo_server $(C_BUILD)/echo_client

$(C_BUILD)/echo_%: examples/c/echo_%.c include/kpoll.h
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) $(C_WARN) -O2 -o $@ $< $(C_SHARED)

# A short run of the echo example on every Linux backend.
c-test-echo: $(C_ECHO_BIN)
	for b in epoll poll select; do \
		examples/c/run_echo.sh $(C_BUILD) $$b 1000 || exit 1; \
	done

example-c-echo: c-stage
	$(MAKE) --no-print-directory $(C_ECHO_BIN)
	examples/c/run_echo.sh $(C_BUILD) $${BACKEND:-epoll} 10000
