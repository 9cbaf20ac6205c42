%% The kpoll module's suite, run once per backend this host has.
-module(kpoll_tests).

-include_lib("eunit/include/eunit.hrl").

%% Far above what any of these waits needs on a quiet machine; a failure
%% means something hangs, not that something is slow.
-define(PATIENCE_MS, 5000).

%% One group per backend; every test leaves the fd count as it found it.
backends_test_() ->
    [{atom_to_list(Backend),
      {foreach,
       fun fd_count/0,
       fun(Before) -> ?assertEqual(Before, settle_fds(Before)) end,
       [{test_name(Test), {timeout, 120, fun() -> Test(Backend) end}}
        || Test <- tests()]}}
     || Backend <- kpoll:supported_backends()].

tests() ->
    [fun new_reports_its_backend/1,
     fun readable_fd_is_reported_with_its_token/1,
     fun level_triggered_fd_is_reported_on_every_wait/1,
     fun any_term_is_a_token/1,
     fun modify_replaces_interest_and_token/1,
     fun deregistered_fd_is_not_reported/1,
     fun hangup_is_reported_unasked/1,
     fun bad_values_are_errors/1,
     fun bad_terms_are_badarg/1,
     fun timeout_returns_empty_after_waiting/1,
     fun wake_ends_an_endless_wait/1,
     fun second_waiter_gets_ebusy/1,
     fun close_ends_an_endless_wait_from_another_process/1,
     fun close_is_idempotent_and_later_calls_are_closed/1,
     fun activate_sends_one_message_per_call/1,
     fun oneshot_through_activate_fires_once_until_modified/1,
     fun activate_survives_a_killed_relay/1,
     fun owner_death_closes_the_poller/1,
     fun garbage_collection_closes_the_poller/1,
     fun pollers_closed_every_way_at_once_leak_nothing/1,
     fun more_endless_waits_than_dirty_schedulers_all_progress/1,
     fun ten_thousand_registrations_are_all_reported/1].

supported_backends_are_concrete_test() ->
    Backends = kpoll:supported_backends(),
    ?assertNotEqual([], Backends),
    ?assertNot(lists:member(auto, Backends)),
    ?assert(lists:member(poll, Backends)).

auto_is_the_best_backend_test() ->
    {ok, P} = kpoll:new(),
    [Best | _] = kpoll:supported_backends(),
    case os:getenv("KPOLL_BACKEND") of
        false -> ?assertEqual(Best, kpoll:backend(P));
        Name -> ?assertEqual(list_to_atom(Name), kpoll:backend(P))
    end,
    ok = kpoll:close(P).

absent_backend_is_enotsup_test() ->
    Absent = [B || B <- [epoll, kqueue, devpoll],
                   not lists:member(B, kpoll:supported_backends())],
    [?assertEqual({error, enotsup}, kpoll:new(#{backend => B}))
     || B <- Absent].

%% --- the tests, each taking the backend -------------------------------

new_reports_its_backend(Backend) ->
    P = new(Backend),
    ?assertEqual(Backend, kpoll:backend(P)),
    ?assertMatch(#{backend := Backend, registered := 0, fallback := 0,
                   waits := 0, events := 0, wakes := 0},
                 kpoll:info(P)),
    ok = kpoll:close(P).

readable_fd_is_reported_with_its_token(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], conn),
    ?assertEqual({ok, []}, kpoll:wait(P, 0)),

    ok = gen_tcp:send(C, <<"ping">>),
    ?assertEqual({ok, [{Fd, conn, [readable]}]},
                 kpoll:wait(P, ?PATIENCE_MS)),
    ?assertMatch(#{registered := 1, events := 1}, kpoll:info(P)),
    done(P, [C, S]).

level_triggered_fd_is_reported_on_every_wait(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], 1),
    ok = gen_tcp:send(C, <<"x">>),
    [?assertEqual({ok, [{Fd, 1, [readable]}]}, kpoll:wait(P, ?PATIENCE_MS))
     || _ <- lists:seq(1, 3)],

    %% Once read, it is quiet again.
    {ok, <<"x">>} = gen_tcp:recv(S, 0, ?PATIENCE_MS),
    ?assertEqual({ok, []}, kpoll:wait(P, 0)),
    done(P, [C, S]).

any_term_is_a_token(Backend) ->
    P = new(Backend),
    Tokens = [atom, -7, 1 bsl 80, 2.5, <<"bin">>, "str", {t, [1, 2], #{k => v}},
              self(), make_ref(), fun() -> ok end],
    Pairs = [{Token, pair()} || Token <- Tokens],
    [ok = kpoll:register(P, Fd, [read], Token) || {Token, {_, _, Fd}} <- Pairs],
    [ok = gen_tcp:send(C, <<"x">>) || {_, {C, _, _}} <- Pairs],

    Expected = lists:sort([{Fd, Token, [readable]}
                           || {Token, {_, _, Fd}} <- Pairs]),
    ?assertEqual(Expected, collect(P, length(Pairs))),
    done(P, lists:append([[C, S] || {_, {C, S, _}} <- Pairs])).

modify_replaces_interest_and_token(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [], old),
    ?assertEqual({ok, []}, kpoll:wait(P, 0)),
    ok = kpoll:modify(P, Fd, [write], new),
    ?assertEqual({ok, [{Fd, new, [writable]}]}, kpoll:wait(P, ?PATIENCE_MS)),
    ok = kpoll:modify(P, Fd, [], none),
    ?assertEqual({ok, []}, kpoll:wait(P, 0)),
    done(P, [C, S]).

deregistered_fd_is_not_reported(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [write], w),
    ?assertMatch({ok, [_]}, kpoll:wait(P, ?PATIENCE_MS)),
    ok = kpoll:deregister(P, Fd),
    ?assertEqual({ok, []}, kpoll:wait(P, 0)),
    ?assertMatch(#{registered := 0}, kpoll:info(P)),
    %% The fd can come back.
    ok = kpoll:register(P, Fd, [write], again),
    ?assertEqual({ok, [{Fd, again, [writable]}]}, kpoll:wait(P, ?PATIENCE_MS)),
    done(P, [C, S]).

hangup_is_reported_unasked(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], t),
    ok = gen_tcp:close(C),
    %% The peer's half close: kqueue's EV_EOF already reads as a hangup.
    HalfClosed = case Backend of
                     kqueue -> [readable, hangup];
                     _ -> [readable]
                 end,
    ?assertEqual({ok, [{Fd, t, HalfClosed}]}, kpoll:wait(P, ?PATIENCE_MS)),

    %% Both directions shut: a hangup, which select cannot see.
    ok = gen_tcp:shutdown(S, write),
    Flags = case Backend of
                select -> [readable];
                _ -> [readable, hangup]
            end,
    ?assertEqual({ok, [{Fd, t, Flags}]}, kpoll:wait(P, ?PATIENCE_MS)),
    done(P, [S]).

bad_values_are_errors(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], t),
    ?assertEqual({error, eexist}, kpoll:register(P, Fd, [read], t)),
    ?assertEqual({error, enoent}, kpoll:modify(P, Fd + 1, [read], t)),
    ?assertEqual({error, enoent}, kpoll:deregister(P, Fd + 1)),
    ?assertEqual({error, ebadf}, kpoll:register(P, -1, [read], t)),
    ?assertEqual({error, ebadf}, kpoll:register(P, 1 bsl 40, [read], t)),
    ?assertEqual({error, ebadf}, kpoll:register(P, 19990, [read], t)),
    ?assertEqual({error, einval}, kpoll:register(P, Fd + 1, [sideways], t)),
    ?assertEqual({error, einval}, kpoll:wait(P, -1)),
    ?assertEqual({error, einval}, kpoll:new(#{backend => sideways})),
    ?assertEqual({error, einval}, kpoll:new(#{colour => blue})),
    case Backend of
        epoll -> ok = kpoll:modify(P, Fd, [read, edge], t);
        _ -> ?assertEqual({error, enotsup}, kpoll:modify(P, Fd, [read, edge], t))
    end,
    done(P, [C, S]).

bad_terms_are_badarg(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    NotPoller = make_ref(),
    ?assertError(badarg, kpoll:register(NotPoller, Fd, [read], t)),
    ?assertError(badarg, kpoll:register(P, "3", [read], t)),
    ?assertError(badarg, kpoll:register(P, 3.0, [read], t)),
    ?assertError(badarg, kpoll:register(P, Fd, read, t)),
    ?assertError(badarg, kpoll:register(P, Fd, [read | write], t)),
    ?assertError(badarg, kpoll:register(P, Fd, [<<"read">>], t)),
    ?assertError(badarg, kpoll:modify(P, Fd, {read}, t)),
    ?assertError(badarg, kpoll:deregister(P, fd)),
    ?assertError(badarg, kpoll:wait(P, soon)),
    ?assertError(badarg, kpoll:wait(NotPoller, 0)),
    ?assertError(badarg, kpoll:wait(NotPoller, -1)),
    ?assertError(badarg, kpoll:activate(self())),
    ?assertError(badarg, kpoll:wake(<<>>)),
    ?assertError(badarg, kpoll:close(42)),
    ?assertError(badarg, kpoll:backend({P})),
    ?assertError(badarg, kpoll:info([])),
    ?assertError(badarg, kpoll:new(epoll)),
    ?assertError(badarg, kpoll:new(#{backend => "epoll"})),
    %% Nothing of that hurt the poller.
    ok = kpoll:register(P, Fd, [write], t),
    ?assertEqual({ok, [{Fd, t, [writable]}]}, kpoll:wait(P, ?PATIENCE_MS)),
    done(P, [C, S]).

timeout_returns_empty_after_waiting(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], t),
    Start = now_ms(),
    ?assertEqual({ok, []}, kpoll:wait(P, 250)),
    ?assert(now_ms() - Start >= 250),
    done(P, [C, S]).

wake_ends_an_endless_wait(Backend) ->
    P = new(Backend),
    Waiter = waiter(P, infinity),
    timer:sleep(150),
    ok = kpoll:wake(P),
    ?assertEqual({ok, []}, result(Waiter)),
    ?assertMatch(#{wakes := 1}, kpoll:info(P)),
    ok = kpoll:close(P).

second_waiter_gets_ebusy(Backend) ->
    P = new(Backend),
    Waiter = waiter(P, infinity),
    timer:sleep(150),
    %% The first waiter is inside a slice all but a few microseconds of
    %% every 100 ms; a non-blocking second wait nearly always meets it,
    %% unless a single dirty I/O scheduler runs them in turn.
    Second = [kpoll:wait(P, 0) || _ <- lists:seq(1, 5)],
    case erlang:system_info(dirty_io_schedulers) of
        1 -> ok;
        _ -> ?assert(lists:member({error, ebusy}, Second))
    end,
    ok = kpoll:wake(P),
    ?assertEqual({ok, []}, result(Waiter)),
    ok = kpoll:close(P).

close_ends_an_endless_wait_from_another_process(Backend) ->
    P = new(Backend),
    Waiter = waiter(P, infinity),
    timer:sleep(150),
    Start = now_ms(),
    ok = kpoll:close(P),
    ?assertEqual({error, closed}, result(Waiter)),
    ?assert(now_ms() - Start < 2000).

close_is_idempotent_and_later_calls_are_closed(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], t),
    ok = kpoll:close(P),
    ok = kpoll:close(P),
    Closed = {error, closed},
    ?assertEqual(Closed, kpoll:register(P, Fd, [read], t)),
    ?assertEqual(Closed, kpoll:modify(P, Fd, [read], t)),
    ?assertEqual(Closed, kpoll:deregister(P, Fd)),
    ?assertEqual(Closed, kpoll:wait(P, 0)),
    ?assertEqual(Closed, kpoll:wait(P, infinity)),
    ?assertEqual(Closed, kpoll:activate(P)),
    ?assertEqual(Closed, kpoll:wake(P)),
    ?assertEqual(Closed, kpoll:backend(P)),
    ?assertEqual(Closed, kpoll:info(P)),
    %% Wrong types are still badarg on a closed poller.
    ?assertError(badarg, kpoll:register(P, x, [read], t)),
    close_all([C, S]).

activate_sends_one_message_per_call(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read], t),
    ok = kpoll:activate(P),
    ?assertEqual(none, next_message(P, 200)),

    ok = gen_tcp:send(C, <<"x">>),
    ?assertEqual({kpoll, P, [{Fd, t, [readable]}]},
                 next_message(P, ?PATIENCE_MS)),
    %% Level-triggered and unread, but no second message without a call.
    ?assertEqual(none, next_message(P, 200)),
    ok = kpoll:activate(P),
    ?assertEqual({kpoll, P, [{Fd, t, [readable]}]},
                 next_message(P, ?PATIENCE_MS)),
    done(P, [C, S]).

oneshot_through_activate_fires_once_until_modified(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    ok = kpoll:register(P, Fd, [read, oneshot], once),
    ok = gen_tcp:send(C, <<"x">>),
    ok = kpoll:activate(P),
    ?assertEqual({kpoll, P, [{Fd, once, [readable]}]},
                 next_message(P, ?PATIENCE_MS)),

    %% Disarmed, though still readable and still registered.
    ok = kpoll:activate(P),
    ?assertEqual(none, next_message(P, 300)),
    ?assertEqual({error, eexist}, kpoll:register(P, Fd, [read], again)),

    ok = kpoll:modify(P, Fd, [read, oneshot], twice),
    ?assertEqual({kpoll, P, [{Fd, twice, [readable]}]},
                 next_message(P, ?PATIENCE_MS)),
    done(P, [C, S]).

%% On backends with a pollable fd, the BEAM's select messages go to a relay
%% process; once it is killed, the next activation makes a new one.
activate_survives_a_killed_relay(Backend) ->
    P = new(Backend),
    {C, S, Fd} = pair(),
    Before = relays(),
    ok = kpoll:register(P, Fd, [read], t),
    ok = kpoll:activate(P),
    case relays() -- Before of
        [Relay] ->
            ?assertEqual(epoll, Backend),
            Ref = monitor(process, Relay),
            exit(Relay, kill),
            receive {'DOWN', Ref, process, Relay, killed} -> ok end;
        [] ->
            ?assertNotEqual(epoll, Backend)
    end,
    ok = kpoll:activate(P),
    ok = gen_tcp:send(C, <<"x">>),
    ?assertEqual({kpoll, P, [{Fd, t, [readable]}]}, next_message(P, ?PATIENCE_MS)),
    done(P, [C, S]),
    %% Closing the poller ends its relay.
    ?assertEqual([], settle_relays(Before, 50)).

relays() ->
    [Pid || Pid <- processes(),
            process_info(Pid, initial_call) =:= {initial_call, {kpoll, relay, 0}}].

settle_relays(Before, 0) ->
    relays() -- Before;
settle_relays(Before, Tries) ->
    case relays() -- Before of
        [] -> [];
        _ -> timer:sleep(100), settle_relays(Before, Tries - 1)
    end.

owner_death_closes_the_poller(Backend) ->
    Before = fd_count(),
    Self = self(),
    {Owner, Ref} = spawn_monitor(
                     fun() ->
                             {ok, P} = kpoll:new(#{backend => Backend}),
                             Self ! {poller, P},
                             receive stop -> ok end
                     end),
    P = receive {poller, Poller} -> Poller end,
    ?assert(fd_count() > Before),
    ?assertEqual(Backend, kpoll:backend(P)),
    Waiter = waiter(P, infinity),

    Owner ! stop,
    receive {'DOWN', Ref, process, Owner, normal} -> ok end,
    %% This process still holds the poller, but it is closed.
    ?assertEqual({error, closed}, result(Waiter)),
    ?assertEqual({error, closed}, kpoll:backend(P)),
    ?assertEqual(Before, settle_fds(Before)).

garbage_collection_closes_the_poller(Backend) ->
    Before = fd_count(),
    %% The owner lives on; only the garbage collector can close these.
    [make_and_drop(Backend) || _ <- lists:seq(1, 50)],
    erlang:garbage_collect(),
    ?assertEqual(Before, settle_fds(Before)).

%% Hundreds of pollers at once, each with a wait and activations in
%% flight, closed by close/1, by close/1 from another process, after a
%% delivery, or by their owner's exit.
pollers_closed_every_way_at_once_leak_nothing(Backend) ->
    {C, S, Fd} = pair(),
    ok = gen_tcp:send(C, <<"x">>),
    Before = fd_count(),
    Self = self(),
    Owners = [spawn(fun() -> churn(Backend, Fd, I), Self ! {churned, self()} end)
              || I <- lists:seq(1, 400)],
    [receive {churned, Owner} -> ok after ?PATIENCE_MS -> error(churn_hangs) end
     || Owner <- Owners],
    ?assertEqual(Before, settle_fds(Before)),
    close_all([C, S]).

churn(Backend, Fd, I) ->
    P = new(Backend),
    ok = kpoll:register(P, Fd, [read], I),
    Self = self(),
    spawn(fun() -> Self ! {waited, kpoll:wait(P, infinity)} end),
    ok = kpoll:activate(P),
    ok = kpoll:activate(P),
    case I rem 4 of
        0 -> ok = kpoll:close(P);
        1 -> spawn(fun() -> kpoll:close(P) end);
        2 -> {kpoll, P, [{Fd, I, _}]} = next_message(P, ?PATIENCE_MS),
             ok = kpoll:close(P);
        3 -> owner_exits
    end.

more_endless_waits_than_dirty_schedulers_all_progress(Backend) ->
    N = 2 * erlang:system_info(dirty_io_schedulers) + 5,
    Pollers = [begin
                   P = new(Backend),
                   {C, S, Fd} = pair(),
                   ok = kpoll:register(P, Fd, [read], I),
                   {P, C, S, Fd, I}
               end || I <- lists:seq(1, N)],
    Waiters = [{waiter(P, infinity), Fd, I} || {P, _, _, Fd, I} <- Pollers],
    timer:sleep(300),

    %% Every dirty I/O scheduler could be held by a wait; file operations
    %% (dirty I/O too) and plain processes still get through.
    Self = self(),
    Start = now_ms(),
    Probe = spawn(fun() ->
                          {ok, _} = file:read_file_info("/proc/self/stat"),
                          {ok, _} = file:read_file("/proc/self/stat"),
                          Self ! {self(), responsive}
                  end),
    Answer = receive {Probe, Reply} -> Reply after 3000 -> unresponsive end,
    ?assertEqual(responsive, Answer),
    Echo = spawn(fun() -> receive {From, X} -> From ! {self(), X} end end),
    Echo ! {Self, hello},
    receive {Echo, hello} -> ok after 3000 -> error(unresponsive) end,
    ?assert(now_ms() - Start < 3000),

    %% Every one of the waits sees its event.
    [ok = gen_tcp:send(C, <<"x">>) || {_, C, _, _, _} <- Pollers],
    [?assertEqual({ok, [{Fd, I, [readable]}]}, result(W))
     || {W, Fd, I} <- Waiters],
    [done(P, [C, S]) || {P, C, S, _, _} <- Pollers],
    ok.

ten_thousand_registrations_are_all_reported(Backend) ->
    N = 10000,
    Before = fd_count(),
    P = new(Backend),
    %% One fd per registration: UDP sockets, writable from the start.
    Sockets = [begin
                   {ok, Sock} = socket:open(inet, dgram, udp),
                   {ok, Fd} = socket:getopt(Sock, {otp, fd}),
                   ok = kpoll:register(P, Fd, [write], I),
                   {I, Sock, Fd}
               end || I <- lists:seq(1, N)],
    ?assert(fd_count() >= Before + N),
    ?assertMatch(#{registered := N}, kpoll:info(P)),

    Seen = collect_tokens(P, N, #{}, 0),
    ?assertEqual(lists:seq(1, N), lists:sort(maps:keys(Seen))),

    [ok = kpoll:deregister(P, Fd) || {_, _, Fd} <- Sockets],
    ?assertMatch(#{registered := 0}, kpoll:info(P)),
    [ok = socket:close(Sock) || {_, Sock, _} <- Sockets],
    ok = kpoll:close(P),
    ?assertEqual(Before, settle_fds(Before)).

%% --- helpers -----------------------------------------------------------

test_name(Test) ->
    {name, Name} = erlang:fun_info(Test, name),
    atom_to_list(Name).

new(Backend) ->
    {ok, P} = kpoll:new(#{backend => Backend}),
    P.

make_and_drop(Backend) ->
    {ok, _Dropped} = kpoll:new(#{backend => Backend}),
    ok.

%% A connected TCP pair on loopback, and the accepted end's fd.
pair() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, loopback}]),
    {ok, Port} = inet:port(L),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, S} = gen_tcp:accept(L, ?PATIENCE_MS),
    ok = gen_tcp:close(L),
    {ok, Fd} = inet:getfd(S),
    {C, S, Fd}.

done(P, Sockets) ->
    ok = kpoll:close(P),
    close_all(Sockets).

close_all(Sockets) ->
    [ok = gen_tcp:close(Sock) || Sock <- Sockets],
    ok.

%% A process that waits on P and hands back what wait/2 returned.
waiter(P, Timeout) ->
    Self = self(),
    spawn_monitor(fun() -> Self ! {waited, self(), kpoll:wait(P, Timeout)} end).

result({Pid, Ref}) ->
    receive
        {waited, Pid, Result} ->
            erlang:demonitor(Ref, [flush]),
            Result;
        {'DOWN', Ref, process, Pid, Reason} ->
            error({waiter_died, Reason})
    after ?PATIENCE_MS ->
            error(waiter_hangs)
    end.

next_message(P, Timeout) ->
    receive
        {kpoll, P, _} = Message -> Message
    after Timeout ->
            none
    end.

%% N events from waits, sorted.
collect(P, N) ->
    collect(P, N, []).

collect(_P, 0, Acc) ->
    lists:sort(Acc);
collect(P, N, Acc) ->
    {ok, Events} = kpoll:wait(P, ?PATIENCE_MS),
    ?assertNotEqual([], Events),
    collect(P, N - length(Events), Events ++ Acc).

%% Waits until every token of 1..N was seen; fairness bounds the waits.
collect_tokens(_P, N, Seen, _Waits) when map_size(Seen) =:= N ->
    Seen;
collect_tokens(P, N, Seen, Waits) when Waits < 100 ->
    {ok, Events} = kpoll:wait(P, ?PATIENCE_MS),
    collect_tokens(P, N, lists:foldl(fun({_, I, [writable]}, Acc) ->
                                             Acc#{I => true}
                                     end, Seen, Events), Waits + 1).

now_ms() ->
    erlang:monotonic_time(millisecond).

fd_count() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    length(Names).

%% The fd count once it is back at Expected, or what it is after a while:
%% a closed poller's fds close when its last wait or delivery ends.
settle_fds(Expected) ->
    settle_fds(Expected, 50).

settle_fds(Expected, 0) ->
    _ = Expected,
    fd_count();
settle_fds(Expected, Tries) ->
    erlang:garbage_collect(),
    case fd_count() of
        Expected -> Expected;
        _ -> timer:sleep(100), settle_fds(Expected, Tries - 1)
    end.
