#!/usr/bin/env escript
%% -*- erlang -*-
%% A panic inside the NIF raises an Erlang error and goes no further: the
%% VM, a poller made before it and new pollers keep working, and no fd
%% leaks. Needs the NIF built with the `fault-injection` feature, in
%% EBIN/../priv/ (make reliability-nif-panic).
%%
%% Usage: nif_panic.escript EBIN

main([Ebin]) ->
    true = code:add_patha(Ebin),
    {module, kpoll} = code:ensure_loaded(kpoll),
    Before = fd_count(),
    {ok, Poller} = kpoll:new(),
    {ok, Socket} = socket:open(inet, stream, tcp),
    {ok, Fd} = socket:getopt(Socket, {otp, fd}),
    ok = kpoll:register(Poller, Fd, [write], before),

    %% The panic becomes an exception of the calling process.
    case catch kpoll:fault_panic() of
        {'EXIT', {not_loaded, _}} ->
            fail("the NIF was built without the fault-injection feature");
        {'EXIT', {Reason, _}} ->
            io:format("kpoll:fault_panic() raised ~p~n", [Reason]);
        Other ->
            fail(io_lib:format("kpoll:fault_panic() returned ~p", [Other]))
    end,

    %% Many panics, from many processes at once.
    Self = self(),
    Pids = [spawn(fun() -> Self ! {self(), catch kpoll:fault_panic()} end)
            || _ <- lists:seq(1, 100)],
    [receive {Pid, {'EXIT', _}} -> ok after 5000 -> fail("no answer") end
     || Pid <- Pids],

    %% The poller made before still works, and so does a new one.
    {ok, [{Fd, before, Flags}]} = kpoll:wait(Poller, 1000),
    true = lists:member(writable, Flags),
    {ok, Second} = kpoll:new(#{backend => poll}),
    ok = kpoll:register(Second, Fd, [write], second),
    {ok, [{Fd, second, _}]} = kpoll:wait(Second, 1000),
    ok = kpoll:close(Second),
    ok = kpoll:close(Poller),
    ok = socket:close(Socket),

    After = fd_count(),
    case After of
        Before -> ok;
        _ -> fail(io_lib:format("fds: ~p before, ~p after", [Before, After]))
    end,
    io:format("nif panic: 101 panics caught, pollers whole, fds ~p -> ~p~n",
              [Before, After]),
    halt(0);
main(_) ->
    fail("usage: nif_panic.escript EBIN").

fd_count() ->
    {ok, Names} = file:list_dir("/proc/self/fd"),
    length(Names).

fail(Text) ->
    io:format(standard_error, "nif panic: ~s~n", [Text]),
    halt(1).
