%% @doc kpoll through a linked-in port driver.
%%
%% Each port opened here owns one kpoll poller. The calls mirror the `kpoll'
%% NIF module: register fds with an interest and a non-negative integer
%% token, then `activate/1' to have the next batch of events sent to the
%% port owner as `{kpoll, Port, [{Fd, Token, Flags}]}' (or, if the wait
%% itself failed, `{kpoll, Port, {error, Reason}}'). The driver watches the
%% poller through the BEAM's own poller, so no call ever blocks a scheduler.
%%
%% Each `open' loads the driver for the calling process with
%% `erl_ddll:load_driver/2', which unloads it, killing its ports, when the
%% last process that loaded it exits. The library is `kpoll_drv.so' in the
%% `kpoll' application's priv dir, or in `../priv' next to this module's
%% beam.
-module(kpoll_drv).

-export([open/0, open/1, register/4, modify/4, deregister/2, activate/1,
         close/1, backend/1, info/1, load/0]).

-export_type([interest/0, flag/0, event/0, backend/0]).

-type backend() :: auto | epoll | kqueue | devpoll | poll | select.
-type interest() :: read | write | priority | oneshot | edge.
-type flag() :: readable | writable | priority | error | hangup.
-type token() :: non_neg_integer().
-type event() :: {Fd :: integer(), token(), [flag()]}.
-type reason() :: closed | atom() | {load_driver, string()}.

-define(DRIVER, "kpoll_drv").

-define(CMD_OPEN, 1).
-define(CMD_REGISTER, 2).
-define(CMD_MODIFY, 3).
-define(CMD_DEREGISTER, 4).
-define(CMD_ACTIVATE, 5).
-define(CMD_INFO, 6).

-define(DEFAULT_CAPACITY, 1024).
-define(MAX_CAPACITY, 65536).
-define(MAX_TOKEN, 16#FFFFFFFFFFFFFFFF).

%% @equiv open(#{})
-spec open() -> {ok, port()} | {error, reason()}.
open() ->
    open(#{}).

%% @doc Opens a port with a poller of its own; the caller owns it.
%%
%% Options: `backend' (default `auto'), and `capacity', the most events one
%% message carries (1 to 65536, default 1024; the rest come with the next
%% `activate'). A backend this OS lacks is `{error, enotsup}'.
-spec open(#{backend => backend(), capacity => pos_integer()}) ->
    {ok, port()} | {error, reason()}.
open(Opts) when is_map(Opts) ->
    Backend = backend_code(maps:get(backend, Opts, auto)),
    Capacity = capacity(maps:get(capacity, Opts, ?DEFAULT_CAPACITY)),
    case load() of
        ok -> open_poller(Backend, Capacity);
        {error, _} = Error -> Error
    end;
open(_) ->
    error(badarg).

%% @doc Registers `Fd' with an interest list and a token.
%%
%% Errors: `eexist' (already registered), `ebadf' (negative or unopened fd),
%% `enotsup' (`edge' on poll or select, `priority' on kqueue), `closed'.
-spec register(port(), integer(), [interest()], token()) ->
    ok | {error, reason()}.
register(Port, Fd, Interest, Token) ->
    fd_command(Port, ?CMD_REGISTER, Fd, Interest, Token).

%% @doc Changes the interest and token of a registered fd; re-arms a
%% oneshot registration. `enoent' for an fd that is not registered.
-spec modify(port(), integer(), [interest()], token()) ->
    ok | {error, reason()}.
modify(Port, Fd, Interest, Token) ->
    fd_command(Port, ?CMD_MODIFY, Fd, Interest, Token).

%% @doc Forgets a registered fd. `enoent' for an fd that is not registered.
-spec deregister(port(), integer()) -> ok | {error, reason()}.
deregister(Port, Fd) when is_port(Port), is_integer(Fd) ->
    control(Port, ?CMD_DEREGISTER, <<(fd(Fd)):32/signed>>);
deregister(_, _) ->
    error(badarg).

%% @doc Asks for one `{kpoll, Port, Events}' message to the port owner when
%% events are ready. Calling it again before the message comes changes
%% nothing.
-spec activate(port()) -> ok | {error, reason()}.
activate(Port) when is_port(Port) ->
    control(Port, ?CMD_ACTIVATE, <<>>);
activate(_) ->
    error(badarg).

%% @doc Closes the port and frees its poller. Closing twice is `ok'; any
%% other call on a closed port is `{error, closed}'.
-spec close(port()) -> ok.
close(Port) when is_port(Port) ->
    case is_driver_port(Port) of
        true ->
            try port_close(Port) of
                true -> ok
            catch
                error:badarg -> ok
            end;
        false ->
            ok
    end;
close(_) ->
    error(badarg).

%% @doc The concrete backend the port's poller uses.
-spec backend(port()) -> backend() | {error, reason()}.
backend(Port) ->
    case info(Port) of
        #{backend := Backend} -> Backend;
        {error, _} = Error -> Error
    end.

%% @doc The poller's backend and counters, as `kpoll:info/1' gives them.
-spec info(port()) ->
    #{backend := backend(), registered := non_neg_integer(),
      fallback := non_neg_integer(), waits := non_neg_integer(),
      events := non_neg_integer(), wakes := non_neg_integer()}
    | {error, reason()}.
info(Port) when is_port(Port) ->
    case control(Port, ?CMD_INFO, <<>>) of
        {ok, <<Backend:8, Registered:64, Fallback:64, Waits:64, Events:64,
               Wakes:64>>} ->
            #{backend => backend_name(Backend), registered => Registered,
              fallback => Fallback, waits => Waits, events => Events,
              wakes => Wakes};
        {error, _} = Error ->
            Error
    end;
info(_) ->
    error(badarg).

%% @doc Loads the driver for the calling process; `open' does it for you.
%% The driver stays loaded while a process that loaded it lives.
-spec load() -> ok | {error, term()}.
load() ->
    case erl_ddll:load_driver(priv_dir(), ?DRIVER) of
        ok -> ok;
        {error, already_loaded} -> ok;
        {error, Reason} -> {error, {load_driver, erl_ddll:format_error(Reason)}}
    end.

%% Internal.

%% The port comes first, then its poller, so that kpoll's own errors (such
%% as enotsup) reach the caller as they are.
open_poller(Backend, Capacity) ->
    try open_port({spawn_driver, ?DRIVER}, [binary]) of
        Port ->
            case control(Port, ?CMD_OPEN, <<Backend:32, Capacity:32>>) of
                ok ->
                    {ok, Port};
                {error, _} = Error ->
                    port_close(Port),
                    Error
            end
    catch
        error:Reason -> {error, Reason}
    end.

fd_command(Port, Command, Fd, Interest, Token)
  when is_port(Port), is_integer(Fd), is_list(Interest), is_integer(Token),
       Token >= 0, Token =< ?MAX_TOKEN ->
    Bits = interest_bits(Interest, 0),
    control(Port, Command, <<(fd(Fd)):32/signed, Bits:32, Token:64>>);
fd_command(_, _, _, _, _) ->
    error(badarg).

%% An integer no fd can have is sent as -1, which kpoll refuses with ebadf.
fd(Fd) when Fd >= -16#80000000, Fd =< 16#7FFFFFFF -> Fd;
fd(_) -> -1.

interest_bits([], Bits) -> Bits;
interest_bits([read | T], Bits) -> interest_bits(T, Bits bor 16#01);
interest_bits([write | T], Bits) -> interest_bits(T, Bits bor 16#02);
interest_bits([priority | T], Bits) -> interest_bits(T, Bits bor 16#04);
interest_bits([oneshot | T], Bits) -> interest_bits(T, Bits bor 16#100);
interest_bits([edge | T], Bits) -> interest_bits(T, Bits bor 16#200);
interest_bits(_, _) -> error(badarg).

backend_code(auto) -> 0;
backend_code(epoll) -> 1;
backend_code(kqueue) -> 2;
backend_code(devpoll) -> 3;
backend_code(poll) -> 4;
backend_code(select) -> 5;
backend_code(_) -> error(badarg).

backend_name(0) -> auto;
backend_name(1) -> epoll;
backend_name(2) -> kqueue;
backend_name(3) -> devpoll;
backend_name(4) -> poll;
backend_name(5) -> select.

capacity(N) when is_integer(N), N >= 1, N =< ?MAX_CAPACITY -> N;
capacity(_) -> error(badarg).

%% A port of another driver would take our command codes for its own, so
%% the port's driver is checked first; a port that is gone is `closed'.
control(Port, Command, Payload) ->
    case is_driver_port(Port) of
        true ->
            try erlang:port_control(Port, Command, Payload) of
                <<0>> -> ok;
                <<0, Data/binary>> -> {ok, Data};
                <<1, Name/binary>> -> {error, binary_to_atom(Name, latin1)}
            catch
                error:badarg -> {error, closed}
            end;
        false ->
            {error, closed}
    end.

is_driver_port(Port) ->
    case erlang:port_info(Port, name) of
        {name, ?DRIVER} -> true;
        undefined -> false;
        {name, _} -> error(badarg)
    end.

%% The kpoll application's priv dir when it holds the driver, else the priv
%% dir beside this module's ebin.
priv_dir() ->
    Ebin = filename:dirname(code:which(?MODULE)),
    Beside = filename:join(filename:dirname(Ebin), "priv"),
    case code:priv_dir(kpoll) of
        {error, bad_name} ->
            Beside;
        Dir ->
            case filelib:is_regular(filename:join(Dir, ?DRIVER ".so")) of
                true -> Dir;
                false -> Beside
            end
    end.
