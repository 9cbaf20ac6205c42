defmodule KPoll do
  @moduledoc """
  Kernel polling for Elixir: epoll, kqueue and /dev/poll, with poll and
  select as fallbacks, behind one set of rules. A thin layer over the Erlang
  module `:kpoll`.

  A poller watches fds and reports which are ready, either to a caller of
  `wait/2` or, after `activate/1`, as one message `{:kpoll, poller, events}`.
  Every event is `{fd, token, flags}`. Get fds from `fd/1`, or from any port
  or NIF that hands one out.

      {:ok, poller} = KPoll.new()
      {:ok, fd} = KPoll.fd(socket)
      :ok = KPoll.register(poller, fd, [:read], socket)
      {:ok, [{^fd, ^socket, [:readable]}]} = KPoll.wait(poller, 1_000)

  No call blocks a normal scheduler: `wait/2` runs on a dirty I/O scheduler
  in slices of at most 100 ms; `activate/1` is served by the BEAM's own
  poller or, for poll and select, by a thread of the NIF's.

  A poller belongs to the process that made it: when that process exits,
  or the poller is garbage-collected, its kernel object is closed. After
  `close/1` every call returns `{:error, :closed}`.

  Errors are `{:error, reason}` with `reason` a lowercase errno atom
  (`:ebadf`, `:eexist`, `:enoent`, `:einval`, `:enotsup`, `:ebusy`,
  `:emfile`...) or `:closed`. An argument of the wrong type raises
  `ArgumentError`.
  """

  @typedoc "A poller, made by `new/1`."
  @type poller :: :kpoll.poller()

  @typedoc "A polling backend; `:auto` is the best this OS has."
  @type backend :: :auto | :epoll | :kqueue | :devpoll | :poll | :select

  @typedoc """
  What to watch an fd for. `:oneshot` reports it once, then disarms it until
  `modify/4`; `:edge` reports changes only (epoll and kqueue).
  """
  @type interest :: :read | :write | :priority | :oneshot | :edge

  @typedoc "A readiness flag of an event."
  @type flag :: :readable | :writable | :priority | :error | :hangup

  @typedoc "A ready fd, the token it was registered with, and its flags."
  @type event :: {fd :: non_neg_integer(), token :: term(), [flag()]}

  @typedoc "An errno atom, or `:closed`."
  @type reason :: atom()

  @doc """
  Makes a poller owned by the calling process.

  ## Options

    * `:backend` - one of `t:backend/0`, `:auto` by default (the
      `KPOLL_BACKEND` environment variable overrides `:auto`).

  An unknown option or backend is `{:error, :einval}`; a backend this OS
  lacks is `{:error, :enotsup}`.
  """
  @spec new(keyword()) :: {:ok, poller()} | {:error, reason()}
  def new(opts \\ []) do
    unless Keyword.keyword?(opts) do
      raise ArgumentError, "expected a keyword list of options, got: #{inspect(opts)}"
    end

    :kpoll.new(Map.new(opts))
  end

  @doc """
  Adds `fd` with `interest`; its events carry `token`, any term.

  `{:error, :eexist}` if the fd is registered already, `{:error, :ebadf}` if
  it is not open, `{:error, :enotsup}` for `:edge` on poll, select and
  /dev/poll.
  """
  @spec register(poller(), non_neg_integer(), [interest()], term()) :: :ok | {:error, reason()}
  def register(poller, fd, interest, token), do: :kpoll.register(poller, fd, interest, token)

  @doc """
  Replaces the interest and token of `fd`, and re-arms a `:oneshot`
  registration. `{:error, :enoent}` if the fd is not registered.
  """
  @spec modify(poller(), non_neg_integer(), [interest()], term()) :: :ok | {:error, reason()}
  def modify(poller, fd, interest, token), do: :kpoll.modify(poller, fd, interest, token)

  @doc """
  Forgets `fd`: no wait that begins afterwards reports it.
  `{:error, :enoent}` if the fd is not registered.
  """
  @spec deregister(poller(), non_neg_integer()) :: :ok | {:error, reason()}
  def deregister(poller, fd), do: :kpoll.deregister(poller, fd)

  @doc """
  Waits up to `timeout` ms, or for ever with `:infinity`, for events.

  Returns `{:ok, []}` on a timeout or after `wake/1`. A second process
  waiting on the same poller at once gets `{:error, :ebusy}`.
  """
  @spec wait(poller(), timeout()) :: {:ok, [event()]} | {:error, reason()}
  def wait(poller, timeout \\ :infinity), do: :kpoll.wait(poller, timeout)

  @doc """
  Asks for one message `{:kpoll, poller, events}` as soon as events are
  ready. Each call brings one message.
  """
  @spec activate(poller()) :: :ok | {:error, reason()}
  def activate(poller), do: :kpoll.activate(poller)

  @doc """
  Makes the wait in progress return, or the next one. Wakes made before a
  wait collapse into one; a wake is never an event.
  """
  @spec wake(poller()) :: :ok | {:error, reason()}
  def wake(poller), do: :kpoll.wake(poller)

  @doc """
  Closes the poller's kernel object now. Idempotent; a wait in progress
  returns `{:error, :closed}`, and so does every later call.
  """
  @spec close(poller()) :: :ok
  def close(poller), do: :kpoll.close(poller)

  @doc "The backend in use."
  @spec backend(poller()) :: backend() | {:error, :closed}
  def backend(poller), do: :kpoll.backend(poller)

  @doc """
  What the poller has done: its backend, the fds registered now, how many of
  them the poll(2) fallback serves, and counts of waits, events and wakes.
  """
  @spec info(poller()) :: %{atom() => term()} | {:error, :closed}
  def info(poller), do: :kpoll.info(poller)

  @doc "The backends this OS has, best first."
  @spec supported_backends() :: [backend()]
  def supported_backends, do: :kpoll.supported_backends()

  @doc """
  The fd of a `:gen_tcp` or `:gen_udp` socket, or of a `:socket` socket.

  The socket keeps the fd: close the socket only after `deregister/2`.
  """
  @spec fd(port() | :socket.socket()) :: {:ok, non_neg_integer()} | {:error, term()}
  def fd(socket) when is_port(socket), do: :inet.getfd(socket)
  def fd({:"$socket", _} = socket), do: :socket.getopt(socket, {:otp, :fd})

  def fd(other) do
    raise ArgumentError, "expected a socket, got: #{inspect(other)}"
  end
end
