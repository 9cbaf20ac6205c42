# The Erlang module kpoll and the Elixir module KPoll, over the Rustler NIF
# in erlang/native/kpoll_nif.
#
#   make erlang-nif        builds erlang/priv/libkpoll_nif.so
#   make test-erlang       EUnit (twice: the second time with one dirty I/O
#                          scheduler) and ExUnit on every backend this host
#                          has, and the echo server with 500 connections
#   make erlang-echo-10k   the echo server holding 10,000 connections from a
#                          client in another OS process, on every backend

DEB_PACKAGES += erlang-base erlang-dev erlang-eunit erlang-tools elixir rebar3
TEST_TARGETS += test-erlang

REBAR3 ?= rebar3
ERLC ?= erlc
MIX ?= mix

# Mix and rebar3 keep their state inside the tree, whatever HOME is; no
# Hex package is ever fetched. rebar3 insists on a HOME, so it gets one when
# there is none, and the NIF is built before it runs.
ERLANG_TOOL_ENV := HOME=$(or $(HOME),$(CURDIR)/erlang/_build/home) \
	KPOLL_NIF_PREBUILT=1 \
	MIX_HOME=$(CURDIR)/erlang/.mix \
	MIX_ARCHIVES=$(CURDIR)/erlang/.mix/archives \
	REBAR_CACHE_DIR=$(CURDIR)/erlang/_build/rebar3-cache \
	REBAR_GLOBAL_CONFIG_DIR=$(CURDIR)/erlang/_build/rebar3-config \
	CARGO=$(CARGO)
ERLANG_BACKENDS = $(shell $(ERLANG_TOOL_ENV) sh -c 'cd erlang && \
	$(MIX) run --no-start -e "IO.puts(Enum.join(:kpoll.supported_backends(), \" \"))" \
	| tail -n 1')

.PHONY: erlang-nif test-erlang test-erlang-eunit test-erlang-exunit \
	test-erlang-echo erlang-echo-10k

erlang-nif:
	CARGO=$(CARGO) sh erlang/native/build-nif.sh

test-erlang: test-erlang-eunit test-erlang-exunit test-erlang-echo

# The module and its suite must compile without a warning.
test-erlang-eunit: erlang-nif
	@mkdir -p build/erlang-warnings
	$(ERLC) -Werror -o build/erlang-warnings erlang/src/kpoll.erl \
		erlang/test/kpoll_tests.erl
	cd erlang && $(ERLANG_TOOL_ENV) $(REBAR3) eunit --module=kpoll_tests
	@echo "The suite again on a single dirty I/O scheduler:"
	cd erlang && $(ERLANG_TOOL_ENV) ERL_FLAGS="+SDio 1" $(REBAR3) eunit \
		--module=kpoll_tests

test-erlang-exunit: erlang-nif
	cd erlang && $(ERLANG_TOOL_ENV) $(MIX) format --check-formatted
	cd erlang && $(ERLANG_TOOL_ENV) MIX_ENV=test $(MIX) compile \
		--warnings-as-errors --no-deps-check
	cd erlang && $(ERLANG_TOOL_ENV) MIX_ENV=test $(MIX) test --no-deps-check

test-erlang-echo: erlang-nif
	cd erlang && $(ERLANG_TOOL_ENV) MIX_ENV=test $(MIX) run \
		examples/echo_server.exs --client 500

erlang-echo-10k: erlang-nif
	for backend in $(ERLANG_BACKENDS); do \
		(cd erlang && $(ERLANG_TOOL_ENV) $(MIX) run \
			examples/echo_server.exs --client 10000 \
			--backend $$backend) || exit 1; \
	done
