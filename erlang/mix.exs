# The Mix project of kpoll: the Erlang module `kpoll`, the Elixir module
# `KPoll`, and the NIF, which the project's own compiler task builds with
# cargo. No Hex packages are needed.
Code.require_file("lib/mix/tasks/compile.kpoll_nif.ex", __DIR__)

defmodule KPoll.MixProject do
  use Mix.Project

  def project do
    [
      app: :kpoll,
      version: "0.1.0",
      elixir: "~> 1.14",
      description: "Kernel polling (epoll, kqueue, /dev/poll, poll, select) for Elixir",
      compilers: [:kpoll_nif] ++ Mix.compilers(),
      erlc_paths: ["src"],
      erlc_options: [:debug_info],
      # The compiler task is loaded by this file; compiling it again into
      # the application would redefine it.
      elixirc_paths: ["lib/k_poll.ex"],
      test_paths: ["test_ex"],
      deps: []
    ]
  end

  def application do
    []
  end
end
