#!/usr/bin/env escript
%%! -noshell
%% Random terms against every exported function of kpoll (the NIF) and
%% kpoll_drv (the port driver): live pollers and ports mixed with atoms,
%% numbers of every size, binaries, lists, tuples, maps, pids, refs, funs.
%% Each call must return a documented shape or raise badarg; the VM must
%% stay up; once everything is closed and collected, the fds of the VM
%% must be back to what they were.
%%
%%   escript random_terms.escript EBIN [CALLS] [SEED]

-mode(compile).

main([Ebin | Rest]) ->
    true = code:add_patha(Ebin),
    {Calls, Seed} = case Rest of
                        [] -> {20000, 1};
                        [C] -> {list_to_integer(C), 1};
                        [C, S | _] -> {list_to_integer(C), list_to_integer(S)}
                    end,
    _ = rand:seed(exsss, {Seed, 17, 4242}),
    ok = kpoll_drv:load(),
    {ok, Probe} = kpoll:new(),
    ok = kpoll:close(Probe),
    Baseline = fd_count(),
    Stats = run(Calls),
    Leftover = settle(Baseline, 50),
    report(Calls, Stats, Baseline, Leftover);
main(_) ->
    io:format("usage: random_terms.escript EBIN [CALLS] [SEED]~n"),
    halt(2).

report(Calls, Stats, Baseline, Leftover) ->
    Unexpected = maps:get(unexpected, Stats, []),
    io:format("random_terms: ~b calls, ~b returned, ~b badarg, "
              "~b unexpected; fds ~b before, ~b after~n",
              [Calls, maps:get(returned, Stats, 0), maps:get(badarg, Stats, 0),
               length(Unexpected), Baseline, Leftover]),
    [io:format("  unexpected: ~p~n", [U]) || U <- lists:sublist(Unexpected, 20)],
    case Unexpected =:= [] andalso Leftover =:= Baseline of
        true -> halt(0);
        false -> halt(1)
    end.

%% The fds of this VM.
fd_count() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    length(Names).

%% Closed pollers and ports release their fds once collected.
settle(Baseline, 0) ->
    _ = Baseline,
    fd_count();
settle(Baseline, Tries) ->
    [erlang:garbage_collect(P) || P <- processes()],
    case fd_count() of
        Baseline -> Baseline;
        _ -> timer:sleep(100), settle(Baseline, Tries - 1)
    end.

run(Calls) ->
    Sockets = [S || _ <- lists:seq(1, 4),
                    {ok, S} <- [gen_udp:open(0, [{active, false}])]],
    Fds = [Fd || S <- Sockets, {ok, Fd} <- [inet:getfd(S)]],
    Self = self(),
    %% Everything runs in a process of its own, which owns the pollers and
    %% ports, so that its death releases them.
    Worker = spawn(fun() -> Self ! {stats, loop(Calls, Fds, #{}, [], [])} end),
    Ref = monitor(process, Worker),
    Result = receive
                 {stats, Stats} -> Stats;
                 {'DOWN', Ref, process, Worker, Why} ->
                     #{unexpected => [{worker_died, Why}]}
             end,
    demonitor(Ref, [flush]),
    [gen_udp:close(S) || S <- Sockets],
    Result.

loop(0, _Fds, Stats, Pollers, Ports) ->
    [catch kpoll:close(P) || P <- Pollers],
    [catch kpoll_drv:close(P) || P <- Ports],
    flush(),
    Stats;
loop(N, Fds, Stats, Pollers, Ports) ->
    flush(),
    {Pollers1, Ports1} = refill(Pollers, Ports),
    Env = {Fds, Pollers1, Ports1},
    {Module, Function, Args} = pick_call(Env),
    Outcome = try apply(Module, Function, Args) of
                  Value -> check(Module, Function, Value)
              catch
                  error:badarg -> badarg;
                  Class:Reason -> {unexpected, {Module, Function, Args,
                                                {Class, Reason}}}
              end,
    Stats1 = case Outcome of
                 {unexpected, Detail} ->
                     maps:update_with(unexpected, fun(L) -> [Detail | L] end,
                                      [Detail], Stats);
                 Key ->
                     maps:update_with(Key, fun(C) -> C + 1 end, 1, Stats)
             end,
    loop(N - 1, Fds, Stats1, keep(Pollers1), keep_ports(Ports1)).

%% Keeps a few live pollers and ports around, replacing closed ones.
refill(Pollers, Ports) ->
    P = case length(Pollers) < 3 of
            true ->
                case kpoll:new(#{backend => backend()}) of
                    {ok, New} -> [New | Pollers];
                    _ -> Pollers
                end;
            false -> Pollers
        end,
    Q = case length(Ports) < 3 of
            true ->
                case kpoll_drv:open(#{backend => backend()}) of
                    {ok, Port} -> [Port | Ports];
                    _ -> Ports
                end;
            false -> Ports
        end,
    {P, Q}.

keep(Pollers) ->
    [P || P <- Pollers, kpoll:info(P) =/= {error, closed}].

keep_ports(Ports) ->
    [P || P <- Ports, erlang:port_info(P) =/= undefined].

flush() ->
    receive
        {kpoll, _, _} -> flush();
        {'EXIT', _, _} -> flush()
    after 0 -> ok
    end.

backend() ->
    one_of([auto, epoll, poll, select, kqueue, devpoll]).

one_of(List) ->
    lists:nth(rand:uniform(length(List)), List).

%% A term: mostly plausible, often not.
term(Env, Depth) ->
    {Fds, Pollers, Ports} = Env,
    Live = Pollers ++ Ports,
    case rand:uniform(16) of
        1 -> one_of([read, write, priority, oneshot, edge, infinity, closed,
                     auto, epoll, poll, select, true, undefined, '']);
        2 -> rand:uniform(64) - 1;
        3 -> -rand:uniform(1000);
        4 -> one_of([1 bsl 31, 1 bsl 32, 1 bsl 63, 1 bsl 64, -(1 bsl 63),
                     1 bsl 200]);
        5 -> one_of([0.0, -1.5, 1.0e300]);
        6 -> crypto_free_binary();
        7 when Depth > 0 ->
            [term(Env, Depth - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)];
        8 when Depth > 0 -> [term(Env, Depth - 1) | term(Env, Depth - 1)];
        9 when Depth > 0 ->
            list_to_tuple([term(Env, Depth - 1)
                           || _ <- lists:seq(1, rand:uniform(4) - 1)]);
        10 when Depth > 0 ->
            one_of([#{}, #{backend => term(Env, Depth - 1)},
                    #{capacity => term(Env, Depth - 1)},
                    #{term(Env, Depth - 1) => term(Env, Depth - 1)}]);
        11 -> one_of([self(), make_ref(), fun() -> ok end, hd(erlang:ports())]);
        12 when Fds =/= [] -> one_of(Fds);
        13 -> interest();
        _ when Live =/= [] -> one_of(Live);
        _ -> rand:uniform(1 bsl 20)
    end.

crypto_free_binary() ->
    list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(8))]).

interest() ->
    [one_of([read, write, priority, oneshot, edge])
     || _ <- lists:seq(1, rand:uniform(3))].

fd(Env) ->
    {Fds, _, _} = Env,
    case rand:uniform(3) of
        1 when Fds =/= [] -> one_of(Fds);
        _ -> term(Env, 1)
    end.

target(Env, Live) ->
    case rand:uniform(4) of
        1 -> term(Env, 1);
        _ when Live =/= [] -> one_of(Live);
        _ -> term(Env, 1)
    end.

%% A timeout that cannot block for long: a live poller is woken first.
timeout(Env, Poller) ->
    T = one_of([0, 1, 2, -1, -100, infinity, 1 bsl 70, foo, 1.5, <<>>,
                term(Env, 1)]),
    Blocks = T =:= infinity orelse (is_integer(T) andalso T > 50),
    case Blocks of
        true ->
            _ = spawn(fun() -> timer:sleep(20), catch kpoll:wake(Poller) end),
            T;
        false ->
            T
    end.

pick_call(Env) ->
    {_, Pollers, Ports} = Env,
    P = target(Env, Pollers),
    D = target(Env, Ports),
    Token = term(Env, 2),
    Interest = case rand:uniform(3) of
                   1 -> term(Env, 2);
                   _ -> interest()
               end,
    one_of([{kpoll, new, []},
            {kpoll, new, [term(Env, 2)]},
            {kpoll, register, [P, fd(Env), Interest, Token]},
            {kpoll, register, [P, fd(Env), Interest, Token]},
            {kpoll, modify, [P, fd(Env), Interest, Token]},
            {kpoll, deregister, [P, fd(Env)]},
            {kpoll, wait, [P, timeout(Env, P)]},
            {kpoll, activate, [P]},
            {kpoll, wake, [P]},
            {kpoll, close, [P]},
            {kpoll, backend, [P]},
            {kpoll, info, [P]},
            {kpoll, supported_backends, []},
            {kpoll_drv, open, []},
            {kpoll_drv, open, [term(Env, 2)]},
            {kpoll_drv, register, [D, fd(Env), Interest, Token]},
            {kpoll_drv, register, [D, fd(Env), Interest, Token]},
            {kpoll_drv, modify, [D, fd(Env), Interest, Token]},
            {kpoll_drv, deregister, [D, fd(Env)]},
            {kpoll_drv, activate, [D]},
            {kpoll_drv, close, [D]},
            {kpoll_drv, backend, [D]},
            {kpoll_drv, info, [D]},
            {kpoll_drv, load, []}]).

%% The shapes the modules document.
check(_, _, ok) -> returned;
check(_, _, {ok, _}) -> returned;
check(_, _, {error, Reason}) when is_atom(Reason) -> returned;
check(_, backend, Atom) when is_atom(Atom) -> returned;
check(_, info, Map) when is_map(Map) -> returned;
check(kpoll, supported_backends, List) when is_list(List) -> returned;
check(Module, Function, Value) -> {unexpected, {Module, Function, Value}}.
