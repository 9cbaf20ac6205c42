%% @doc The Erlang side of the benchmark: the chained-write workload over
%% loopback TCP, served three ways on the same connections:
%%
%% - `socket': the BEAM's own `socket' module, `recv(S, 1, nowait)' and its
%%   `{'$socket', S, select, Handle}' messages (enif_select underneath);
%% - `nif': the kpoll NIF, every fd registered, events through `activate/1';
%% - `driver': the kpoll port driver, the same through `kpoll_drv'.
%%
%% The clients run in another OS process (the bench binary with
%% `--echo-clients'), which echoes every byte. Each round writes one byte to
%% A spread-out connections; every read passes a byte on to the next one
%% until W writes are done. Prints one `key=value' line per variant.
-module(kpoll_bench).

-export([main/1]).

-define(ACCEPT_TIMEOUT, 30000).
-define(STALL, 10000).

%% Args: [EchoExe, N, A, W, Rounds, Variant...]
main([Exe, NS, AS, WS, RS | Variants]) ->
    [N, A, W, R] = [list_to_integer(X) || X <- [NS, AS, WS, RS]],
    try run(Exe, N, A, W, R, [list_to_atom(V) || V <- Variants]) of
        ok -> halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "kpoll_bench: ~p:~p~n~p~n",
                      [Class, Reason, Stack]),
            halt(1)
    end.

run(Exe, N, A, W, R, Variants0) ->
    {Socks, Clients} = connect(Exe, N),
    Conns = list_to_tuple(Socks),
    %% socket's pending nowait reads stay armed after its run (cancelling
    %% them needs every select handle), so it runs last.
    Variants = (Variants0 -- [socket]) ++ [V || V <- Variants0, V =:= socket],
    lists:foreach(
      fun(V) ->
              Line = measure(V, Conns, A, W, R),
              io:format("~s~n", [Line])
      end, Variants),
    port_close(Clients),
    ok.

%% N accepted TCP connections, their clients in a child process.
connect(Exe, N) ->
    {ok, L} = socket:open(inet, stream, tcp),
    ok = socket:bind(L, #{family => inet, addr => loopback, port => 0}),
    ok = socket:listen(L, 4096),
    {ok, #{port := Port}} = socket:sockname(L),
    Clients = open_port({spawn_executable, Exe},
                        [{args, ["--echo-clients", integer_to_list(Port),
                                 integer_to_list(N)]},
                         binary, use_stdio]),
    Socks = [accept(L) || _ <- lists:seq(1, N)],
    socket:close(L),
    {Socks, Clients}.

accept(L) ->
    {ok, S} = socket:accept(L, ?ACCEPT_TIMEOUT),
    ok = socket:setopt(S, {tcp, nodelay}, true),
    S.

%% One variant: set up, one untimed round, R timed rounds, tear down.
measure(Variant, Conns, A, W, R) ->
    Loop = setup(Variant, Conns),
    Events = A + W,
    _ = round(Loop, Conns, A, W),
    {_, _} = statistics(runtime),
    Walls = [round(Loop, Conns, A, W) || _ <- lists:seq(1, R)],
    {_, CpuMs} = statistics(runtime),
    teardown(Loop),
    Samples = lists:join(",", [integer_to_list(X) || X <- Walls]),
    io_lib:format("impl=erlang-~s n=~b active=~b writes=~b rounds=~b "
                  "wall_ns=~b cpu_ns=~b events=~b wall_samples=~s",
                  [Variant, tuple_size(Conns), A, W, R, median(Walls),
                   CpuMs * 1000000 div R, Events, Samples]).

setup(socket, Conns) ->
    Index = maps:from_list(
              [{element(I, Conns), I} || I <- lists:seq(1, tuple_size(Conns))]),
    [arm(S) || S <- tuple_to_list(Conns)],
    {socket, Index};
setup(nif, Conns) ->
    {ok, P} = kpoll:new(#{backend => epoll}),
    register_all(fun(Fd, I) -> kpoll:register(P, Fd, [read], I) end, Conns),
    {nif, P};
setup(driver, Conns) ->
    {ok, P} = kpoll_drv:open(#{backend => epoll}),
    register_all(fun(Fd, I) -> kpoll_drv:register(P, Fd, [read], I) end,
                 Conns),
    {driver, P}.

register_all(Register, Conns) ->
    lists:foreach(
      fun(I) ->
              {ok, Fd} = socket:getopt(element(I, Conns), {otp, fd}),
              ok = Register(Fd, I)
      end, lists:seq(1, tuple_size(Conns))).

teardown({socket, _Index}) ->
    ok;
teardown({nif, P}) ->
    kpoll:close(P);
teardown({driver, P}) ->
    kpoll_drv:close(P).

%% Asks the socket module for a select message when S turns readable.
arm(S) ->
    case socket:recv(S, 1, nowait) of
        {select, _} -> ok;
        {ok, _} -> error(unexpected_data)
    end.

%% One round; returns its wall-clock nanoseconds.
round(Loop, Conns, A, W) ->
    N = tuple_size(Conns),
    Space = N div A,
    [send(Conns, I * Space + 1) || I <- lists:seq(0, A - 1)],
    T0 = erlang:monotonic_time(nanosecond),
    ok = dispatch(Loop, Conns, {0, A, W}),
    erlang:monotonic_time(nanosecond) - T0.

send(Conns, I) ->
    ok = socket:send(element(I, Conns), <<"e">>).

%% State: {Count, Fired, WritesLeft}; done when every byte is read.
dispatch(_Loop, _Conns, {Fired, Fired, _}) ->
    ok;
dispatch({socket, Index} = Loop, Conns, State) ->
    receive
        {'$socket', S, select, _Handle} ->
            dispatch(Loop, Conns, socket_ready(S, Index, Conns, State))
    after ?STALL ->
            error(stalled)
    end;
dispatch({nif, P} = Loop, Conns, State) ->
    ok = kpoll:activate(P),
    receive
        {kpoll, P, Events} ->
            dispatch(Loop, Conns, events(Events, Conns, State))
    after ?STALL ->
            error(stalled)
    end;
dispatch({driver, P} = Loop, Conns, State) ->
    ok = kpoll_drv:activate(P),
    receive
        {kpoll, P, Events} when is_list(Events) ->
            dispatch(Loop, Conns, events(Events, Conns, State))
    after ?STALL ->
            error(stalled)
    end.

%% socket: read the byte that came, re-arm (which may find another).
socket_ready(S, Index, Conns, State0) ->
    {ok, <<_>>} = socket:recv(S, 1, nowait),
    State = passed_on(maps:get(S, Index), Conns, State0),
    case socket:recv(S, 1, nowait) of
        {select, _} -> State;
        {ok, <<_>>} -> socket_more(S, Index, Conns, State)
    end.

socket_more(S, Index, Conns, State0) ->
    State = passed_on(maps:get(S, Index), Conns, State0),
    case socket:recv(S, 1, nowait) of
        {select, _} -> State;
        {ok, <<_>>} -> socket_more(S, Index, Conns, State)
    end.

%% kpoll: one byte per event; a connection with two stays readable.
events([], _Conns, State) ->
    State;
events([{_Fd, I, _Flags} | Rest], Conns, State) ->
    {ok, <<_>>} = socket:recv(element(I, Conns), 1, [], 0),
    events(Rest, Conns, passed_on(I, Conns, State)).

%% A byte was read from connection I: count it, pass one on.
passed_on(_I, _Conns, {Count, Fired, 0}) ->
    {Count + 1, Fired, 0};
passed_on(I, Conns, {Count, Fired, Left}) ->
    Next = case I =:= tuple_size(Conns) of
               true -> 1;
               false -> I + 1
           end,
    send(Conns, Next),
    {Count + 1, Fired + 1, Left - 1}.

median(L) ->
    S = lists:sort(L),
    lists:nth(length(S) div 2 + 1, S).
