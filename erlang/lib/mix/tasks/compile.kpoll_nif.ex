defmodule Mix.Tasks.Compile.KpollNif do
  @shortdoc "Builds the kpoll NIF with cargo and copies it to priv/"
  @moduledoc """
  Builds the `kpoll_nif` crate of the workspace this project sits in, in
  release mode, and copies the library to `priv/libkpoll_nif.so`, where
  `kpoll` loads it from.

  `CARGO` names the cargo to run and `CARGO_TARGET_DIR` where it builds,
  as for cargo itself. `KPOLL_NIF_PREBUILT=1` skips the build when `priv/`
  holds the library already (`make` builds it first).
  """

  use Mix.Task.Compiler

  @impl Mix.Task.Compiler
  def run(_args) do
    project_dir = Path.dirname(Mix.Project.project_file())
    root = Path.expand("..", project_dir)
    cargo = System.get_env("CARGO", "cargo")

    args = [
      "build",
      "--release",
      "-p",
      "kpoll_nif",
      "--manifest-path",
      Path.join(root, "Cargo.toml")
    ]

    prebuilt = Path.join([project_dir, "priv", "libkpoll_nif.so"])

    if System.get_env("KPOLL_NIF_PREBUILT") == "1" and File.regular?(prebuilt) do
      {:noop, []}
    else
      build(cargo, args, root, project_dir)
    end
  end

  defp build(cargo, args, root, project_dir) do
    case System.find_executable(cargo) do
      nil ->
        Mix.shell().error("compile.kpoll_nif: #{cargo} not found")
        {:error, []}

      path ->
        case System.cmd(path, args, stderr_to_stdout: true, into: IO.stream(:stdio, :line)) do
          {_, 0} -> install(root, project_dir)
          {_, status} -> fail("cargo exited with status #{status}")
        end
    end
  end

  # Copies through a temporary name, so a VM that loads the library never
  # sees half a file.
  defp install(root, project_dir) do
    target = System.get_env("CARGO_TARGET_DIR", Path.join(root, "target"))
    built = Path.join([target, "release", "libkpoll_nif.so"])
    priv = Path.join(project_dir, "priv")
    dest = Path.join(priv, "libkpoll_nif.so")

    with :ok <- File.mkdir_p(priv),
         :ok <- File.cp(built, dest <> ".tmp"),
         :ok <- File.rename(dest <> ".tmp", dest) do
      {:ok, []}
    else
      {:error, reason} -> fail("cannot install #{built}: #{:file.format_error(reason)}")
    end
  end

  defp fail(message) do
    Mix.shell().error("compile.kpoll_nif: " <> message)
    {:error, []}
  end
end
