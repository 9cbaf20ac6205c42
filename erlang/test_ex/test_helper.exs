# One poller test at a time: they count the fds of the whole VM.
ExUnit.start(max_cases: 1)
