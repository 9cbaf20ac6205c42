%% The kpoll_drv port driver, the same suite on every backend this host has.
-module(kpoll_drv_tests).

-include_lib("eunit/include/eunit.hrl").

%% The per-backend cases, called by name from backend_test_/0.
-export([registration_errors/1, one_message_per_activate/1,
         register_while_activated_is_reported/1,
         level_reports_while_readable/1,
         oneshot_reports_once_until_modify/1, token_round_trips/1,
         deregister_stops_reports/1, peer_close_reports_readable/1,
         hangup_and_error_are_reported/1,
         many_fds_all_reported_within_fair_waits/1,
         capacity_one_takes_turns/1, close_frees_every_fd/1,
         port_close_frees_every_fd/1, owner_exit_frees_every_fd/1,
         concurrent_open_close_frees_every_fd/1,
         running_out_of_fds_is_emfile_and_recovers/1,
         activate_from_another_process_reports_to_owner/1,
         random_bytes_get_replies_not_crashes/1, backend_and_info/1]).

-define(AWAIT_MS, 5000).
-define(QUIET_MS, 200).

%% Every behaviour, once per backend.
backend_test_() ->
    Cases = [registration_errors, one_message_per_activate,
             register_while_activated_is_reported,
             level_reports_while_readable,
             oneshot_reports_once_until_modify, token_round_trips,
             deregister_stops_reports, peer_close_reports_readable,
             hangup_and_error_are_reported,
             many_fds_all_reported_within_fair_waits,
             capacity_one_takes_turns, close_frees_every_fd,
             port_close_frees_every_fd, owner_exit_frees_every_fd,
             concurrent_open_close_frees_every_fd,
             running_out_of_fds_is_emfile_and_recovers,
             activate_from_another_process_reports_to_owner,
             random_bytes_get_replies_not_crashes, backend_and_info],
    [{atom_to_list(B),
      [{atom_to_list(Case), {timeout, 60, fun() -> ?MODULE:Case(B) end}}
       || Case <- Cases]}
     || B <- [epoll, poll, select], supported(B)].

open_refuses_absent_backends_test() ->
    [?assertEqual({error, enotsup}, kpoll_drv:open(#{backend => B}))
     || B <- [kqueue, devpoll], not supported(B)].

open_rejects_bad_options_test() ->
    ?assertError(badarg, kpoll_drv:open(#{backend => nosuch})),
    ?assertError(badarg, kpoll_drv:open(#{capacity => 0})),
    ?assertError(badarg, kpoll_drv:open(#{capacity => 65537})),
    ?assertError(badarg, kpoll_drv:open(not_a_map)).

auto_opens_a_kernel_poll_test() ->
    {ok, P} = kpoll_drv:open(),
    ?assertEqual(epoll, kpoll_drv:backend(P)),
    ok = kpoll_drv:close(P).

other_ports_are_refused_test() ->
    {ok, S} = gen_udp:open(0),
    ?assertError(badarg, kpoll_drv:activate(S)),
    ?assertError(badarg, kpoll_drv:close(S)),
    ok = gen_udp:close(S).

a_port_never_opened_refuses_commands_test() ->
    ok = kpoll_drv:load(),
    P = open_port({spawn_driver, "kpoll_drv"}, [binary]),
    ?assertEqual({error, einval}, kpoll_drv:activate(P)),
    ?assertEqual({error, einval}, kpoll_drv:info(P)),
    ok = kpoll_drv:close(P).

%% The cases.

registration_errors(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [read], 1),
    ?assertEqual({error, eexist}, kpoll_drv:register(P, Fd, [write], 2)),
    ?assertEqual({error, ebadf}, kpoll_drv:register(P, -1, [read], 3)),
    ?assertEqual({error, ebadf}, kpoll_drv:register(P, 1 bsl 40, [read], 3)),
    ?assertEqual({error, ebadf}, kpoll_drv:register(P, closed_fd(), [read], 3)),
    {S2, Fd2} = udp(),
    ?assertEqual({error, enoent}, kpoll_drv:modify(P, Fd2, [read], 4)),
    ?assertEqual({error, enoent}, kpoll_drv:deregister(P, Fd2)),
    Edge = kpoll_drv:register(P, Fd2, [read, edge], 5),
    case B of
        epoll -> ?assertEqual(ok, Edge);
        _ -> ?assertEqual({error, enotsup}, Edge)
    end,
    ok = kpoll_drv:deregister(P, Fd),
    ?assertEqual({error, enoent}, kpoll_drv:deregister(P, Fd)),
    ok = kpoll_drv:register(P, Fd, [], 6),
    quiet(P),
    ok = kpoll_drv:modify(P, Fd, [read, write, priority], 7),
    [{Fd, 7, [writable]}] = next(P),
    ?assertError(badarg, kpoll_drv:register(P, Fd2, [bogus], 1)),
    ?assertError(badarg, kpoll_drv:register(P, Fd2, read, 1)),
    ?assertError(badarg, kpoll_drv:register(P, Fd2, [read], -1)),
    ?assertError(badarg, kpoll_drv:register(P, Fd2, [read], 1 bsl 64)),
    ?assertError(badarg, kpoll_drv:register(P, fd, [read], 1)),
    ?assertError(badarg, kpoll_drv:deregister(P, fd)),
    ?assertError(badarg, kpoll_drv:register(not_a_port, Fd2, [read], 1)),
    ok = kpoll_drv:close(P),
    close_udp([S, S2]).

%% Activations made before anything is ready are one; the fd stays
%% readable, yet nothing more comes until the next activate.
one_message_per_activate(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [read], 1),
    ok = kpoll_drv:activate(P),
    ok = kpoll_drv:activate(P),
    send_to(S),
    [{Fd, 1, _}] = next(P),
    receive {kpoll, P, Again} -> error({unexpected, Again})
    after ?QUIET_MS -> ok
    end,
    ok = kpoll_drv:close(P),
    close_udp([S]).

%% On poll and select the waiter thread is already blocked in kpoll_wait.
register_while_activated_is_reported(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    quiet(P),
    ok = kpoll_drv:register(P, Fd, [write], 5),
    [{Fd, 5, [writable]}] = next(P),
    ok = kpoll_drv:close(P),
    close_udp([S]).

level_reports_while_readable(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [read], 7),
    quiet(P),
    send_to(S),
    [{Fd, 7, Flags}] = next(P),
    ?assert(lists:member(readable, Flags)),
    [{Fd, 7, _}] = await(P),
    {ok, _} = gen_udp:recv(S, 0, 1000),
    quiet(P),
    ok = kpoll_drv:close(P),
    close_udp([S]).

oneshot_reports_once_until_modify(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [read, oneshot], 9),
    send_to(S),
    [{Fd, 9, _}] = await(P),
    quiet(P),
    ok = kpoll_drv:modify(P, Fd, [read, oneshot], 10),
    [{Fd, 10, _}] = next(P),
    quiet(P),
    ok = kpoll_drv:close(P),
    close_udp([S]).

token_round_trips(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    Max = (1 bsl 64) - 1,
    ok = kpoll_drv:register(P, Fd, [write], Max),
    ?assertEqual([{Fd, Max, [writable]}], await(P)),
    ok = kpoll_drv:modify(P, Fd, [write], 0),
    ?assertEqual([{Fd, 0, [writable]}], await(P)),
    ok = kpoll_drv:close(P),
    close_udp([S]).

deregister_stops_reports(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [write], 1),
    [{Fd, 1, _}] = await(P),
    ok = kpoll_drv:deregister(P, Fd),
    quiet(P),
    ok = kpoll_drv:close(P),
    close_udp([S]).

peer_close_reports_readable(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {A, C} = tcp_pair(),
    {ok, Fd} = inet:getfd(A),
    ok = kpoll_drv:register(P, Fd, [read], 2),
    quiet(P),
    ok = gen_tcp:close(C),
    [{Fd, 2, Flags}] = next(P),
    ?assert(lists:member(readable, Flags)),
    ok = kpoll_drv:close(P),
    ok = gen_tcp:close(A).

%% Both directions shut is a hangup; a reset is an error too. select sees
%% neither and reports the fd readable.
hangup_and_error_are_reported(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {A, C} = tcp_pair(),
    {ok, Fd} = inet:getfd(A),
    ok = gen_tcp:shutdown(A, write),
    ok = gen_tcp:close(C),
    ok = kpoll_drv:register(P, Fd, [read], 1),
    [{Fd, 1, Hangup}] = await(P),
    {A2, C2} = tcp_pair(),
    {ok, Fd2} = inet:getfd(A2),
    ok = inet:setopts(C2, [{linger, {true, 0}}]),
    ok = gen_tcp:close(C2),
    ok = kpoll_drv:deregister(P, Fd),
    ok = kpoll_drv:register(P, Fd2, [read], 2),
    [{Fd2, 2, Reset}] = await(P),
    case B of
        select ->
            ?assertEqual({[readable], [readable]}, {Hangup, Reset});
        _ ->
            ?assertEqual({[readable, hangup], [readable, error, hangup]},
                         {Hangup, Reset})
    end,
    ok = kpoll_drv:close(P),
    [ok = gen_tcp:close(X) || X <- [A, A2]].

%% 3000 fds steadily writable, 1024 a message: each within ceil(3000/1024).
many_fds_all_reported_within_fair_waits(B) ->
    N = 3000,
    {ok, P} = kpoll_drv:open(#{backend => B, capacity => 1024}),
    Socks = [udp() || _ <- lists:seq(1, N)],
    Tokens = lists:seq(1, N),
    [ok = kpoll_drv:register(P, Fd, [write], T)
     || {{_, Fd}, T} <- lists:zip(Socks, Tokens)],
    ?assertMatch(#{registered := N}, kpoll_drv:info(P)),
    Seen = lists:foldl(
             fun(_, Acc) ->
                     Events = await(P),
                     ?assert(length(Events) =< 1024),
                     lists:foldl(fun({_, T, _}, A) -> sets:add_element(T, A)
                                 end, Acc, Events)
             end, sets:new(), lists:seq(1, 3)),
    ?assertEqual(N, sets:size(Seen)),
    ok = kpoll_drv:close(P),
    close_udp([S || {S, _} <- Socks]).

capacity_one_takes_turns(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B, capacity => 1}),
    Socks = [udp() || _ <- lists:seq(1, 3)],
    [ok = kpoll_drv:register(P, Fd, [write], Fd) || {_, Fd} <- Socks],
    Seen = lists:usort([T || _ <- lists:seq(1, 3), {_, T, _} <- await(P)]),
    ?assertEqual(lists:sort([Fd || {_, Fd} <- Socks]), Seen),
    ok = kpoll_drv:close(P),
    close_udp([S || {S, _} <- Socks]).

%% Poll and select also start a waiter thread, which close must end.
close_frees_every_fd(B) ->
    {S, Fd} = udp(),
    Before = settled(fun count_fds/0),
    Threads = settled(fun count_threads/0),
    {ok, P} = kpoll_drv:open(#{backend => B}),
    ok = kpoll_drv:register(P, Fd, [read], 1),
    ok = kpoll_drv:activate(P),
    ?assert(count_fds() > Before),
    case B of
        epoll -> ?assertEqual(Threads, count_threads());
        _ -> ?assertEqual(Threads + 1, count_threads())
    end,
    ok = kpoll_drv:close(P),
    await_fd_count(Before),
    ?assertEqual(Threads, count_threads()),
    ?assertEqual({error, closed}, kpoll_drv:register(P, Fd, [read], 1)),
    ?assertEqual({error, closed}, kpoll_drv:modify(P, Fd, [read], 1)),
    ?assertEqual({error, closed}, kpoll_drv:deregister(P, Fd)),
    ?assertEqual({error, closed}, kpoll_drv:activate(P)),
    ?assertEqual({error, closed}, kpoll_drv:info(P)),
    ?assertEqual({error, closed}, kpoll_drv:backend(P)),
    ?assertEqual(ok, kpoll_drv:close(P)),
    close_udp([S]).

port_close_frees_every_fd(B) ->
    {S, Fd} = udp(),
    Before = settled(fun count_fds/0),
    [begin
         {ok, P} = kpoll_drv:open(#{backend => B}),
         ok = kpoll_drv:register(P, Fd, [read], 1),
         ok = kpoll_drv:activate(P),
         true = port_close(P)
     end || _ <- lists:seq(1, 20)],
    await_fd_count(Before),
    close_udp([S]).

owner_exit_frees_every_fd(B) ->
    ok = kpoll_drv:load(),
    {S, Fd} = udp(),
    Before = settled(fun count_fds/0),
    Self = self(),
    {Pid, Ref} = spawn_monitor(
                   fun() ->
                           {ok, P} = kpoll_drv:open(#{backend => B}),
                           ok = kpoll_drv:register(P, Fd, [read], 1),
                           ok = kpoll_drv:activate(P),
                           Self ! {opened, self(), count_fds()},
                           receive stop -> exit(owner_gone) end
                   end),
    receive {opened, Pid, During} -> ?assert(During > Before) end,
    Pid ! stop,
    receive {'DOWN', Ref, process, Pid, owner_gone} -> ok end,
    await_fd_count(Before),
    close_udp([S]).

%% Ports opened, fed and closed from many processes at once, some closed
%% with events on the way, some left to their owner's exit.
concurrent_open_close_frees_every_fd(B) ->
    ok = kpoll_drv:load(),
    {S, Fd} = udp(),
    Before = settled(fun count_fds/0),
    Threads = settled(fun count_threads/0),
    Self = self(),
    Run = fun(I) ->
                  [begin
                       {ok, P} = kpoll_drv:open(#{backend => B}),
                       ok = kpoll_drv:register(P, Fd, [write], J),
                       ok = kpoll_drv:activate(P),
                       case (I + J) rem 3 of
                           0 -> ok = kpoll_drv:close(P);
                           1 -> true = port_close(P);
                           2 -> ok
                       end
                   end || J <- lists:seq(1, 25)],
                  Self ! {done, self()}
          end,
    Pids = [spawn(fun() -> Run(I) end) || I <- lists:seq(1, 8)],
    [receive {done, Pid} -> ok end || Pid <- Pids],
    await_fd_count(Before),
    await_thread_count(Threads),
    close_udp([S]).

%% Ports opened until the process has no fd left: the last open fails
%% cleanly, and closing them all gives every fd back. Each poller holds at
%% least one fd, so 25,000 of them exhaust any limit up to that.
running_out_of_fds_is_emfile_and_recovers(B) ->
    Before = settled(fun count_fds/0),
    Open = fun Open(Acc, 0) ->
                   {Acc, limit_not_reached};
               Open(Acc, N) ->
                   case kpoll_drv:open(#{backend => B}) of
                       {ok, P} -> Open([P | Acc], N - 1);
                       {error, Reason} -> {Acc, Reason}
                   end
           end,
    {Ports, Reason} = Open([], 25000),
    case max_fds() =< 25000 of
        true -> ?assertEqual(emfile, Reason);
        false -> ok
    end,
    ?assert(length(Ports) > 100),
    [ok = kpoll_drv:close(P) || P <- Ports],
    await_fd_count(Before),
    {ok, P} = kpoll_drv:open(#{backend => B}),
    ok = kpoll_drv:close(P).

activate_from_another_process_reports_to_owner(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [write], 3),
    Self = self(),
    spawn(fun() -> Self ! {activated, kpoll_drv:activate(P)} end),
    receive {activated, Result} -> ?assertEqual(ok, Result) end,
    receive {kpoll, P, Events} -> ?assertEqual([{Fd, 3, [writable]}], Events)
    after ?AWAIT_MS -> error(no_events)
    end,
    ok = kpoll_drv:close(P),
    close_udp([S]).

%% Every command code with payloads cut short, exact and too long, then
%% noise: each gets a reply, and the port still works afterwards.
random_bytes_get_replies_not_crashes(B) ->
    Before = settled(fun count_fds/0),
    Fresh = open_port({spawn_driver, "kpoll_drv"}, [binary]),
    {ok, P} = kpoll_drv:open(#{backend => B}),
    Codes = lists:seq(0, 9) ++ [255, 256, 16#7FFFFFFF, 16#FFFFFFFF],
    Sizes = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 64, 65, 4096],
    [assert_reply(Port, Code, rand:bytes(Size))
     || Port <- [Fresh, P], Code <- Codes, Size <- Sizes],
    [assert_reply(Port, rand:uniform(12) - 1, rand:bytes(rand:uniform(40)))
     || Port <- [Fresh, P], _ <- lists:seq(1, 2000)],
    [true = port_command(Port, rand:bytes(rand:uniform(100)))
     || Port <- [Fresh, P], _ <- lists:seq(1, 200)],
    true = port_command(P, [<<1, 2>>, "abc", [<<>>]]),
    ?assertError(badarg, erlang:port_call(P, 1, foo)),
    ?assertMatch(#{backend := B}, kpoll_drv:info(P)),
    true = port_close(Fresh),
    ok = kpoll_drv:close(P),
    flush(P),
    await_fd_count(Before).

backend_and_info(B) ->
    {ok, P} = kpoll_drv:open(#{backend => B}),
    ?assertEqual(B, kpoll_drv:backend(P)),
    {S, Fd} = udp(),
    ok = kpoll_drv:register(P, Fd, [write], 1),
    [{Fd, 1, _}] = await(P),
    Info = kpoll_drv:info(P),
    ?assertMatch(#{backend := B, registered := 1, fallback := 0}, Info),
    ?assert(maps:get(events, Info) >= 1),
    ?assert(maps:get(waits, Info) >= 1),
    ?assert(is_integer(maps:get(wakes, Info))),
    ok = kpoll_drv:close(P),
    close_udp([S]).

%% Helpers.

supported(B) ->
    case kpoll_drv:open(#{backend => B}) of
        {ok, P} -> kpoll_drv:close(P), true;
        {error, enotsup} -> false
    end.

udp() ->
    {ok, S} = gen_udp:open(0, [binary, {active, false},
                               {ip, {127, 0, 0, 1}}]),
    {ok, Fd} = inet:getfd(S),
    {S, Fd}.

close_udp(Socks) ->
    [ok = gen_udp:close(S) || S <- Socks],
    ok.

%% Loopback delivery is done when send returns.
send_to(S) ->
    {ok, Port} = inet:port(S),
    {ok, C} = gen_udp:open(0, [{ip, {127, 0, 0, 1}}]),
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, <<"x">>),
    gen_udp:close(C).

tcp_pair() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}, {active, false}]),
    {ok, Port} = inet:port(L),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [{active, false}]),
    {ok, A} = gen_tcp:accept(L, 1000),
    ok = gen_tcp:close(L),
    {A, C}.

%% A number below the fd limit that no fd has. (A socket just closed will
%% not do: the BEAM may close its fd later, in stop_select.)
closed_fd() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    Open = [list_to_integer(N) || N <- Names],
    hd([Fd || Fd <- lists:seq(19999, 0, -1), not lists:member(Fd, Open)]).

await(P) ->
    ok = kpoll_drv:activate(P),
    next(P).

%% The message of an activation already made.
next(P) ->
    receive
        {kpoll, P, Events} when is_list(Events) -> Events
    after ?AWAIT_MS ->
            error(no_events)
    end.

%% The activation stays pending: the next message answers it, so next/1,
%% not await/1, takes that one.
quiet(P) ->
    ok = kpoll_drv:activate(P),
    receive
        {kpoll, P, Events} -> error({unexpected, Events})
    after ?QUIET_MS ->
            ok
    end.

flush(P) ->
    receive {kpoll, P, _} -> flush(P) after 0 -> ok end.

assert_reply(Port, Code, Payload) ->
    Reply = erlang:port_control(Port, Code, Payload),
    ?assert(is_binary(Reply)),
    ?assertMatch(<<S, _/binary>> when S =:= 0; S =:= 1, Reply).

count_fds() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    length(Names).

max_fds() ->
    {ok, Limits} = file:read_file("/proc/self/limits"),
    {match, [Soft]} = re:run(Limits, "Max open files +([0-9]+)",
                             [{capture, all_but_first, binary}]),
    binary_to_integer(Soft).

count_threads() ->
    {ok, Names} = file:list_dir("/proc/self/task"),
    length(Names).

%% A count read twice alike, 50 ms apart: sockets closed by earlier cases
%% may still be going away.
settled(Count) ->
    settled(Count, Count(), 100).

settled(_, Last, 0) ->
    Last;
settled(Count, Last, Tries) ->
    timer:sleep(50),
    case Count() of
        Last -> Last;
        Now -> settled(Count, Now, Tries - 1)
    end.

await_thread_count(Expected) ->
    await_count(fun count_threads/0, Expected, 50).

%% stop_select may run after the port is gone, so the count is awaited.
await_fd_count(Expected) ->
    await_count(fun count_fds/0, Expected, 50).

await_count(Count, Expected, 0) ->
    ?assertEqual(Expected, Count());
await_count(Count, Expected, Tries) ->
    case Count() of
        Expected -> ok;
        _ -> timer:sleep(100), await_count(Count, Expected, Tries - 1)
    end.
