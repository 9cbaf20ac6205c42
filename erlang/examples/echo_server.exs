# A TCP echo server over kpoll: one process, one poller, every connection
# registered by fd and read through :socket only when kpoll reports it
# readable.
#
#   mix run examples/echo_server.exs [--port 7000] [--backend epoll]
#   mix run examples/echo_server.exs --client 10000
#
# With --client N it starts examples/echo_client.exs in another OS process
# with N connections, waits for it, checks that it held all N at once, and
# exits with the client's status.

defmodule EchoServer do
  @moduledoc false

  def start(port, backend) do
    {:ok, listener} = :socket.open(:inet, :stream, :tcp)
    :ok = :socket.setopt(listener, {:socket, :reuseaddr}, true)
    :ok = :socket.bind(listener, %{family: :inet, addr: :loopback, port: port})
    :ok = :socket.listen(listener, 4096)
    {:ok, %{port: port}} = :socket.sockname(listener)

    {:ok, poller} = KPoll.new(backend: backend)
    {:ok, fd} = KPoll.fd(listener)
    :ok = KPoll.register(poller, fd, [:read], :listener)
    IO.puts("echo server on 127.0.0.1:#{port}, backend #{KPoll.backend(poller)}")

    state = %{poller: poller, listener: listener, open: 0, peak: 0, echoed: 0}
    {port, state}
  end

  def loop(state) do
    :ok = KPoll.activate(state.poller)

    receive do
      {:kpoll, poller, events} when poller == state.poller ->
        state |> handle(events) |> loop()

      {:stats, from} ->
        send(from, {:stats, Map.take(state, [:open, :peak, :echoed])})
        loop(state)
    end
  end

  defp handle(state, events) do
    Enum.reduce(events, state, fn
      {_fd, :listener, _flags}, state -> accept_all(state)
      {fd, socket, _flags}, state -> echo(state, fd, socket)
    end)
  end

  # The listener is readable: take every connection that is waiting.
  defp accept_all(state) do
    case :socket.accept(state.listener, 0) do
      {:ok, socket} ->
        {:ok, fd} = KPoll.fd(socket)
        :ok = KPoll.register(state.poller, fd, [:read], socket)
        open = state.open + 1
        accept_all(%{state | open: open, peak: max(open, state.peak)})

      {:error, _} ->
        state
    end
  end

  defp echo(state, fd, socket) do
    case :socket.recv(socket, 0, 0) do
      {:ok, data} ->
        :ok = :socket.send(socket, data)
        %{state | echoed: state.echoed + 1}

      {:error, :timeout} ->
        state

      {:error, _closed} ->
        :ok = KPoll.deregister(state.poller, fd)
        :socket.close(socket)
        %{state | open: state.open - 1}
    end
  end
end

{opts, _, _} =
  OptionParser.parse(System.argv(), strict: [port: :integer, backend: :string, client: :integer])

backend = opts |> Keyword.get(:backend, "auto") |> String.to_atom()
{port, state} = EchoServer.start(Keyword.get(opts, :port, 0), backend)
server = spawn_link(fn -> EchoServer.loop(state) end)
:ok = :socket.setopt(state.listener, :otp, :controlling_process, server)

case Keyword.fetch(opts, :client) do
  :error ->
    Process.sleep(:infinity)

  {:ok, n} ->
    client = Path.join(__DIR__, "echo_client.exs")
    elixir = System.find_executable("elixir")
    {_, status} = System.cmd(elixir, [client, "#{port}", "#{n}"], into: IO.stream(:stdio, :line))

    send(server, {:stats, self()})
    stats = receive do: ({:stats, stats} -> stats)
    IO.puts("server: held #{stats.peak} connections at once, echoed #{stats.echoed} messages")

    cond do
      status != 0 -> System.halt(status)
      stats.peak != n -> System.halt(1)
      true -> System.halt(0)
    end
end
