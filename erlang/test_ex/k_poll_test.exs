defmodule KPollTest do
  # The same suite on every backend of this host; every test leaves the fd
  # count of the VM as it found it.
  use ExUnit.Case, async: false

  # Far above what any of these waits needs; a failure means a hang.
  @patience 5_000

  setup do
    before = fd_count()
    on_exit(fn -> assert settle_fds(before) == before end)
    :ok
  end

  test "supported backends are concrete, best first" do
    backends = KPoll.supported_backends()
    assert :poll in backends
    refute :auto in backends
  end

  test "options must be a keyword list, naming known options" do
    assert_raise ArgumentError, fn -> KPoll.new(:epoll) end
    assert_raise ArgumentError, fn -> KPoll.new(backend: "epoll") end
    assert {:error, :einval} = KPoll.new(colour: :blue)
    assert {:error, :einval} = KPoll.new(backend: :sideways)
  end

  test "fd/1 takes gen_tcp and socket sockets, and nothing else" do
    {:ok, tcp} = :gen_tcp.listen(0, [])
    {:ok, udp} = :socket.open(:inet, :dgram, :udp)
    assert {:ok, fd} = KPoll.fd(tcp)
    assert is_integer(fd)
    assert {:ok, fd} = KPoll.fd(udp)
    assert is_integer(fd)
    assert_raise ArgumentError, fn -> KPoll.fd(7) end
    :ok = :gen_tcp.close(tcp)
    :ok = :socket.close(udp)
  end

  for backend <- :kpoll.supported_backends() do
    describe "#{backend}:" do
      @backend backend

      test "new/1 takes the backend option" do
        {:ok, poller} = KPoll.new(backend: @backend)
        assert KPoll.backend(poller) == @backend
        assert %{backend: @backend, registered: 0, waits: 0} = KPoll.info(poller)
        :ok = KPoll.close(poller)
      end

      test "a readable fd is reported with its token" do
        {:ok, poller} = KPoll.new(backend: @backend)
        {client, server, fd} = pair()
        :ok = KPoll.register(poller, fd, [:read], {:conn, server})
        assert {:ok, []} = KPoll.wait(poller, 0)

        :ok = :gen_tcp.send(client, "ping")
        assert {:ok, [{^fd, {:conn, ^server}, [:readable]}]} = KPoll.wait(poller, @patience)
        done(poller, [client, server])
      end

      test "activate/1 sends one message per call" do
        {:ok, poller} = KPoll.new(backend: @backend)
        {client, server, fd} = pair()
        :ok = KPoll.register(poller, fd, [:read], :t)
        :ok = KPoll.activate(poller)
        refute_receive {:kpoll, ^poller, _}, 200

        :ok = :gen_tcp.send(client, "x")
        assert_receive {:kpoll, ^poller, [{^fd, :t, [:readable]}]}, @patience
        refute_receive {:kpoll, ^poller, _}, 200
        done(poller, [client, server])
      end

      test "a oneshot registration fires once through activate/1, until modified" do
        {:ok, poller} = KPoll.new(backend: @backend)
        {client, server, fd} = pair()
        :ok = KPoll.register(poller, fd, [:read, :oneshot], :once)
        :ok = :gen_tcp.send(client, "x")
        :ok = KPoll.activate(poller)
        assert_receive {:kpoll, ^poller, [{^fd, :once, [:readable]}]}, @patience

        :ok = KPoll.activate(poller)
        refute_receive {:kpoll, ^poller, _}, 300
        :ok = KPoll.modify(poller, fd, [:read, :oneshot], :again)
        assert_receive {:kpoll, ^poller, [{^fd, :again, [:readable]}]}, @patience
        done(poller, [client, server])
      end

      test "bad values are errors, bad terms raise" do
        {:ok, poller} = KPoll.new(backend: @backend)
        {client, server, fd} = pair()
        :ok = KPoll.register(poller, fd, [:read], :t)
        assert {:error, :eexist} = KPoll.register(poller, fd, [:read], :t)
        assert {:error, :enoent} = KPoll.deregister(poller, fd + 1)
        assert {:error, :ebadf} = KPoll.register(poller, -1, [:read], :t)
        assert {:error, :einval} = KPoll.register(poller, fd + 1, [:sideways], :t)
        assert {:error, :einval} = KPoll.wait(poller, -5)

        assert_raise ArgumentError, fn -> KPoll.register(make_ref(), fd, [:read], :t) end
        assert_raise ArgumentError, fn -> KPoll.register(poller, "7", [:read], :t) end
        assert_raise ArgumentError, fn -> KPoll.register(poller, fd, :read, :t) end
        assert_raise ArgumentError, fn -> KPoll.wait(poller, :soon) end
        assert_raise ArgumentError, fn -> KPoll.close(:poller) end
        done(poller, [client, server])
      end

      test "close/1 is idempotent, and later calls see :closed" do
        {:ok, poller} = KPoll.new(backend: @backend)
        :ok = KPoll.close(poller)
        :ok = KPoll.close(poller)
        assert {:error, :closed} = KPoll.register(poller, 0, [:read], :t)
        assert {:error, :closed} = KPoll.wait(poller, :infinity)
        assert {:error, :closed} = KPoll.activate(poller)
        assert {:error, :closed} = KPoll.wake(poller)
        assert {:error, :closed} = KPoll.info(poller)
      end

      test "wake/1 ends an endless wait with no events" do
        {:ok, poller} = KPoll.new(backend: @backend)
        waiter = Task.async(fn -> KPoll.wait(poller) end)
        Process.sleep(150)
        :ok = KPoll.wake(poller)
        assert {:ok, []} = Task.await(waiter, 2_000)
        assert %{wakes: 1} = KPoll.info(poller)
        :ok = KPoll.close(poller)
      end

      test "close/1 from another process ends an endless wait" do
        {:ok, poller} = KPoll.new(backend: @backend)
        waiter = Task.async(fn -> KPoll.wait(poller, :infinity) end)
        Process.sleep(150)
        :ok = KPoll.close(poller)
        assert {:error, :closed} = Task.await(waiter, 2_000)
      end

      test "the owner's exit closes the poller" do
        before = fd_count()
        parent = self()

        owner =
          spawn(fn ->
            {:ok, poller} = KPoll.new(backend: @backend)
            send(parent, {:poller, poller})
            receive do: (:stop -> :ok)
          end)

        assert_receive {:poller, poller}, @patience
        assert fd_count() > before
        ref = Process.monitor(owner)
        send(owner, :stop)
        assert_receive {:DOWN, ^ref, :process, ^owner, :normal}, @patience
        assert {:error, :closed} = KPoll.backend(poller)
        assert settle_fds(before) == before
      end

      test "garbage collection closes the poller" do
        before = fd_count()
        for _ <- 1..50, do: {:ok, _} = KPoll.new(backend: @backend)
        :erlang.garbage_collect()
        assert settle_fds(before) == before
      end

      @tag timeout: 120_000
      test "more endless waits than dirty schedulers all progress" do
        n = 2 * :erlang.system_info(:dirty_io_schedulers) + 5

        pollers =
          for i <- 1..n do
            {:ok, poller} = KPoll.new(backend: @backend)
            {client, server, fd} = pair()
            :ok = KPoll.register(poller, fd, [:read], i)
            {poller, client, server, fd, i}
          end

        waiters =
          for {poller, _, _, fd, i} <- pollers do
            {Task.async(fn -> KPoll.wait(poller, :infinity) end), fd, i}
          end

        Process.sleep(300)
        # File operations run on dirty I/O schedulers too.
        probe = Task.async(fn -> File.read!("/proc/self/stat") end)
        assert is_binary(Task.await(probe, 3_000))

        for {_, client, _, _, _} <- pollers, do: :ok = :gen_tcp.send(client, "x")

        for {task, fd, i} <- waiters do
          assert {:ok, [{^fd, ^i, [:readable]}]} = Task.await(task, @patience)
        end

        for {poller, client, server, _, _} <- pollers, do: done(poller, [client, server])
      end

      @tag timeout: 120_000
      test "ten thousand registrations are all reported" do
        n = 10_000
        {:ok, poller} = KPoll.new(backend: @backend)

        sockets =
          for i <- 1..n do
            {:ok, socket} = :socket.open(:inet, :dgram, :udp)
            {:ok, fd} = KPoll.fd(socket)
            :ok = KPoll.register(poller, fd, [:write], i)
            {socket, fd}
          end

        assert %{registered: ^n} = KPoll.info(poller)
        assert collect_tokens(poller, n, MapSet.new(), 0) == MapSet.new(1..n)

        for {socket, fd} <- sockets do
          :ok = KPoll.deregister(poller, fd)
          :ok = :socket.close(socket)
        end

        :ok = KPoll.close(poller)
      end
    end
  end

  defp pair do
    {:ok, listener} = :gen_tcp.listen(0, [:binary, active: false, ip: {127, 0, 0, 1}])
    {:ok, port} = :inet.port(listener)
    {:ok, client} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false])
    {:ok, server} = :gen_tcp.accept(listener, @patience)
    :ok = :gen_tcp.close(listener)
    {:ok, fd} = KPoll.fd(server)
    {client, server, fd}
  end

  defp done(poller, sockets) do
    :ok = KPoll.close(poller)
    Enum.each(sockets, &:gen_tcp.close/1)
  end

  # Waits until every token of 1..n was seen; fairness bounds the waits.
  defp collect_tokens(poller, n, seen, waits) do
    if MapSet.size(seen) == n or waits == 100 do
      seen
    else
      {:ok, events} = KPoll.wait(poller, @patience)
      seen = Enum.reduce(events, seen, fn {_fd, i, [:writable]}, acc -> MapSet.put(acc, i) end)
      collect_tokens(poller, n, seen, waits + 1)
    end
  end

  defp fd_count, do: length(File.ls!("/proc/self/fd"))

  # A closed poller's fds close when its last wait or delivery ends.
  defp settle_fds(expected, tries \\ 50) do
    :erlang.garbage_collect()

    case fd_count() do
      ^expected ->
        expected

      count when tries == 0 ->
        count

      _ ->
        Process.sleep(100)
        settle_fds(expected, tries - 1)
    end
  end
end
