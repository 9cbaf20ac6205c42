# The echo server's client, in an OS process of its own: opens N
# connections and keeps them all open, sends a line on each, checks every
# echo, then closes them.
#
#   elixir examples/echo_client.exs PORT N

[port, n] = Enum.map(System.argv(), &String.to_integer/1)
opts = [:binary, active: false, packet: :raw]
started = System.monotonic_time(:millisecond)

sockets =
  for i <- 1..n do
    {:ok, socket} = :gen_tcp.connect({127, 0, 0, 1}, port, opts, 10_000)
    {i, socket}
  end

opened = System.monotonic_time(:millisecond)
for {i, socket} <- sockets, do: :ok = :gen_tcp.send(socket, "hello #{i}\n")

bad =
  Enum.count(sockets, fn {i, socket} ->
    expected = "hello #{i}\n"
    :gen_tcp.recv(socket, byte_size(expected), 10_000) != {:ok, expected}
  end)

done = System.monotonic_time(:millisecond)
Enum.each(sockets, fn {_, socket} -> :gen_tcp.close(socket) end)

IO.puts(
  "client: #{n} connections open in #{opened - started} ms, " <>
    "#{n - bad} echoes checked in #{done - opened} ms, #{bad} wrong"
)

System.halt(if bad == 0, do: 0, else: 1)
