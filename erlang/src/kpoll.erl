%% @doc Kernel polling for Erlang: epoll, kqueue and /dev/poll, with poll
%% and select as fallbacks, behind one set of rules.
%%
%% A poller watches fds (from `inet:getfd/1', `socket:getopt(S, {otp, fd})'
%% or any port or NIF that hands one out) and reports which are ready, either
%% to a caller of {@link wait/2} or, after {@link activate/1}, as one message
%% `{kpoll, Poller, Events}'. Every event is `{Fd, Token, Flags}'.
%%
%% No call blocks a normal scheduler: `wait/2' runs on a dirty I/O scheduler
%% in slices of at most 100 ms, so any number of waits share the dirty
%% schedulers and a wait ends soon after `close/1' from any process;
%% `activate/1' is served by the BEAM's own poller on the poller's fd (epoll,
%% kqueue, /dev/poll) or by a thread of the NIF's (poll, select).
%%
%% A poller belongs to the process that made it: when that process dies, or
%% the poller is garbage-collected, its kernel object is closed. After
%% `close/1' every call returns `{error, closed}'.
%%
%% Errors are `{error, Reason}' with `Reason' a lowercase errno atom
%% (`ebadf', `eexist', `enoent', `einval', `enotsup', `ebusy', `emfile'...)
%% or `closed'; an argument of the wrong type raises `badarg'.
-module(kpoll).

-export([new/0, new/1, register/4, modify/4, deregister/2, wait/2,
         activate/1, wake/1, close/1, backend/1, info/1,
         supported_backends/0]).

%% Internal: the NIF's entry points and the relay process.
-export([relay/0]).

%% Internal: only a NIF built with the fault-injection feature replaces it,
%% with one that panics (the test that a panic never reaches the VM).
-export([fault_panic/0]).

-on_load(init/0).

-export_type([poller/0, backend/0, interest/0, flag/0, event/0,
              reason/0]).

-opaque poller() :: reference().
-type backend() :: auto | epoll | kqueue | devpoll | poll | select.
-type interest() :: read | write | priority | oneshot | edge.
-type flag() :: readable | writable | priority | error | hangup.
-type event() :: {Fd :: non_neg_integer(), Token :: term(), [flag()]}.
-type reason() :: closed | atom().

%% The longest one dirty call waits; see wait/2.
-define(SLICE_MS, 100).
%% How long the relay steps back while another wait holds the poller.
-define(BUSY_BACKOFF_MS, 10).

init() ->
    erlang:load_nif(nif_path(), 0).

%% priv/libkpoll_nif.so of the application, or next to ebin/ when the
%% module is loaded from a bare directory.
nif_path() ->
    Priv = case code:priv_dir(kpoll) of
               {error, bad_name} ->
                   Ebin = filename:dirname(code:which(?MODULE)),
                   filename:join(filename:dirname(Ebin), "priv");
               Dir ->
                   Dir
           end,
    filename:join(Priv, "libkpoll_nif").

%% @doc A poller on the best backend of this OS (`KPOLL_BACKEND' in the
%% environment overrides the choice).
-spec new() -> {ok, poller()} | {error, reason()}.
new() ->
    new(#{}).

%% @doc A poller on the backend of `Opts' (`#{backend => auto}' by default).
%% An unknown backend or option is `einval'; a backend this OS lacks,
%% `enotsup'.
-spec new(#{backend => backend()}) -> {ok, poller()} | {error, reason()}.
new(Opts) when is_map(Opts) ->
    case maps:keys(maps:remove(backend, Opts)) of
        [] ->
            case maps:get(backend, Opts, auto) of
                Backend when is_atom(Backend) -> new_nif(Backend);
                _ -> erlang:error(badarg, [Opts])
            end;
        _ ->
            {error, einval}
    end;
new(Opts) ->
    erlang:error(badarg, [Opts]).

%% @doc Adds `Fd' with `Interest'; its events carry `Token', any term.
%% `eexist' if the fd is registered already, `ebadf' if it is not open,
%% `enotsup' for `edge' on poll, select and /dev/poll.
-spec register(poller(), non_neg_integer(), [interest()], term()) ->
          ok | {error, reason()}.
register(_Poller, _Fd, _Interest, _Token) ->
    erlang:nif_error(not_loaded).

%% @doc Replaces the interest and token of `Fd', and re-arms a oneshot
%% registration. `enoent' if the fd is not registered.
-spec modify(poller(), non_neg_integer(), [interest()], term()) ->
          ok | {error, reason()}.
modify(_Poller, _Fd, _Interest, _Token) ->
    erlang:nif_error(not_loaded).

%% @doc Forgets `Fd'; no wait that begins afterwards reports it. `enoent'
%% if the fd is not registered.
-spec deregister(poller(), non_neg_integer()) -> ok | {error, reason()}.
deregister(_Poller, _Fd) ->
    erlang:nif_error(not_loaded).

%% @doc Waits up to `Timeout' ms (or for ever) for events. Returns
%% `{ok, []}' on a timeout or after {@link wake/1}. A second process waiting
%% on the same poller at once gets `{error, ebusy}'.
%%
%% The wait runs on a dirty I/O scheduler in slices of at most 100 ms, so
%% it never holds one for long and ends within a slice of `close/1'.
-spec wait(poller(), non_neg_integer() | infinity) ->
          {ok, [event()]} | {error, reason()}.
wait(Poller, infinity) ->
    wait_slices(Poller, infinity);
wait(Poller, Timeout) when is_integer(Timeout), Timeout >= 0 ->
    wait_slices(Poller, now_ms() + Timeout);
wait(Poller, Timeout) when is_integer(Timeout) ->
    %% Still badarg for a term that is no poller.
    _ = backend(Poller),
    {error, einval};
wait(Poller, Timeout) ->
    erlang:error(badarg, [Poller, Timeout]).

wait_slices(Poller, Deadline) ->
    case wait_slice(Poller, slice(Deadline)) of
        timeout ->
            case Deadline =/= infinity andalso now_ms() >= Deadline of
                true -> {ok, []};
                false -> wait_slices(Poller, Deadline)
            end;
        Result ->
            Result
    end.

slice(infinity) ->
    ?SLICE_MS;
slice(Deadline) ->
    max(0, min(?SLICE_MS, Deadline - now_ms())).

now_ms() ->
    erlang:monotonic_time(millisecond).

%% @doc Asks for one message `{kpoll, Poller, Events}' as soon as events
%% are ready. Each call brings one message; with level-triggered
%% registrations, call it again after handling the events.
-spec activate(poller()) -> ok | {error, reason()}.
activate(Poller) ->
    case activate_nif(Poller) of
        no_relay ->
            %% The first activation of a poller with a pollable fd: make the
            %% process that receives the BEAM's select messages for it.
            Relay = spawn(?MODULE, relay, []),
            case set_relay(Poller, Relay) of
                ok ->
                    activate(Poller);
                exists ->
                    Relay ! '$kpoll_relay_stop',
                    activate(Poller);
                Error ->
                    Relay ! '$kpoll_relay_stop',
                    Error
            end;
        Result ->
            Result
    end.

%% @private A NIF that panics, in fault-injection builds; elsewhere the
%% library has no such NIF and this stub stays.
-spec fault_panic() -> no_return().
fault_panic() ->
    erlang:nif_error(not_loaded).

%% @private The relay: the BEAM tells it when the poller's fd is readable;
%% it collects the events and sends them to the activating processes. It
%% holds no reference to the poller between messages.
relay() ->
    receive
        {select, Poller, undefined, ready_input} ->
            relay_deliver(Poller),
            relay();
        '$kpoll_relay_stop' ->
            ok
    end.

relay_deliver(Poller) ->
    case deliver(Poller) of
        busy ->
            receive after ?BUSY_BACKOFF_MS -> ok end,
            relay_deliver(Poller);
        _ ->
            ok
    end.

%% @doc Makes the wait in progress return, or the next one. Wakes before a
%% wait collapse into one; a wake is never an event.
-spec wake(poller()) -> ok | {error, reason()}.
wake(_Poller) ->
    erlang:nif_error(not_loaded).

%% @doc Closes the poller's kernel object now. Idempotent; any wait in
%% progress returns `{error, closed}', and so does every later call.
%% Activations still pending get no message.
-spec close(poller()) -> ok.
close(_Poller) ->
    erlang:nif_error(not_loaded).

%% @doc The backend in use: `epoll', `kqueue', `devpoll', `poll' or
%% `select'.
-spec backend(poller()) -> backend() | {error, closed}.
backend(_Poller) ->
    erlang:nif_error(not_loaded).

%% @doc What the poller has done: its backend, the fds registered now, how
%% many of them the poll(2) fallback serves, and counts of waits, events and
%% wakes.
-spec info(poller()) ->
          #{backend := backend(), registered := non_neg_integer(),
            fallback := non_neg_integer(), waits := non_neg_integer(),
            events := non_neg_integer(), wakes := non_neg_integer()}
          | {error, closed}.
info(_Poller) ->
    erlang:nif_error(not_loaded).

%% @doc The backends this OS has, best first.
-spec supported_backends() -> [backend()].
supported_backends() ->
    erlang:nif_error(not_loaded).

%% The NIF's internal entry points.

new_nif(_Backend) ->
    erlang:nif_error(not_loaded).

wait_slice(_Poller, _SliceMs) ->
    erlang:nif_error(not_loaded).

activate_nif(_Poller) ->
    erlang:nif_error(not_loaded).

set_relay(_Poller, _Relay) ->
    erlang:nif_error(not_loaded).

deliver(_Poller) ->
    erlang:nif_error(not_loaded).
