//! Fault injection: signal storms during waits, a full fd table, pipe wake
//! sources forced, fds closed or duplicated while registered, fork.
//!
//! The tests that need a process of their own (a lowered fd limit, an
//! environment read once per process) run this binary again with one
//! `child_*` test selected and `KPOLL_FAULT_CHILD` set; a `child_*` test run
//! without it does nothing.

mod common;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use kpoll::{Backend, Events, Interest, Poller, Readiness};

/// Several tests close fds and compare fd numbers or counts.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn storm_seconds() -> f64 {
    std::env::var("KPOLL_FAULT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs this test binary again with only `test` selected, `KPOLL_FAULT_CHILD`
/// set and `env` added, and checks that it ran the test and passed.
fn run_child(test: &str, env: &[(&str, Option<&str>)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KPOLL_FAULT_CHILD", "1");
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command.output().expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child {test} {env:?} failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

fn in_child() -> bool {
    std::env::var_os("KPOLL_FAULT_CHILD").is_some()
}

// ---------------------------------------------------------------- signals

static SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// A SIGUSR1 handler without `SA_RESTART`, so that every blocking call it
/// lands in fails with `EINTR`.
fn install_handler() {
    // SAFETY: the handler only touches an atomic; sigaction copies the
    // struct, which is zeroed and then filled.
    unsafe {
        let mut action = std::mem::zeroed::<libc::sigaction>();
        action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

/// Sends SIGUSR1 to `target` at about 5 kHz until `stop`.
fn storm(target: libc::pthread_t, stop: &AtomicBool) -> u64 {
    let period = Duration::from_micros(200);
    let mut next = Instant::now();
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `target` is the test's thread, which joins this one
        // before it ends.
        assert_eq!(unsafe { libc::pthread_kill(target, libc::SIGUSR1) }, 0);
        sent += 1;
        next += period;
        if let Some(left) = next.checked_duration_since(Instant::now()) {
            thread::sleep(left);
        }
    }
    sent
}

#[test]
fn waits_under_a_signal_storm_never_return_eintr_and_lose_nothing() {
    let _guard = serial();
    install_handler();
    let seconds = storm_seconds();
    each_backend(|backend, poller| {
        let pairs: Vec<_> = (0..4).map(|_| pair()).collect();
        for (i, (_, end)) in pairs.iter().enumerate() {
            poller.register(end, Interest::READABLE, i as u64).unwrap();
        }
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let stop_storm = AtomicBool::new(false);
        let writing = AtomicBool::new(true);
        let written = AtomicU64::new(0);
        let before = SIGNALS.load(Ordering::Relaxed);

        thread::scope(|scope| {
            let storm = scope.spawn(|| storm(me, &stop_storm));
            scope.spawn(|| {
                let end = Instant::now() + Duration::from_secs_f64(seconds);
                let mut i = 0;
                while Instant::now() < end {
                    poke(&pairs[i % pairs.len()].0);
                    written.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                    thread::sleep(Duration::from_millis(2));
                }
                writing.store(false, Ordering::SeqCst);
            });

            // Every byte written is read through the events it raises.
            let mut events = Events::with_capacity(8);
            let mut read = 0u64;
            let give_up = Instant::now() + Duration::from_secs_f64(seconds) + COMES;
            while writing.load(Ordering::SeqCst) || read < written.load(Ordering::SeqCst) {
                assert!(Instant::now() < give_up, "{backend}: {read} bytes read");
                let n = poller
                    .wait(&mut events, Some(Duration::from_millis(20)))
                    .unwrap_or_else(|e| panic!("{backend}: wait failed under signals: {e}"));
                for event in &events.as_slice()[..n] {
                    let mut buf = [0u8; 256];
                    let end = &pairs[event.token() as usize].1;
                    while let Ok(got) = end.read_bytes(&mut buf) {
                        read += got as u64;
                    }
                }
            }
            assert_eq!(read, written.load(Ordering::SeqCst));

            // A timed wait with nothing ready lasts its time, signals or not.
            let start = Instant::now();
            let n = poller
                .wait(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            assert_eq!(n, 0);
            assert!(start.elapsed() >= Duration::from_millis(100));

            // A wait for ever returns for the event, not for a signal.
            let late = scope.spawn(|| {
                thread::sleep(Duration::from_millis(200));
                poke(&pairs[0].0);
            });
            let n = poller.wait(&mut events, None).unwrap();
            assert_eq!(n, 1);
            assert_eq!(events.iter().next().unwrap().token(), 0);
            late.join().unwrap();
            drain(&pairs[0].1);

            stop_storm.store(true, Ordering::Relaxed);
            let sent = storm.join().unwrap();
            let caught = SIGNALS.load(Ordering::Relaxed) - before;
            println!(
                "signal storm on {backend}: {sent} signals sent, {caught} caught, \
                 {read} bytes through events in {seconds} s"
            );
            assert!(
                caught as f64 >= 500.0 * seconds,
                "{backend}: only {caught} signals reached the waiter"
            );
        });
    });
}

/// `Read::read` on a shared reference, named so that the loop above reads.
trait ReadBytes {
    fn read_bytes(&self, buf: &mut [u8]) -> std::io::Result<usize>;
}

impl ReadBytes for std::os::unix::net::UnixStream {
    fn read_bytes(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Read;
        let mut stream = self;
        match stream.read(buf)? {
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => Ok(n),
        }
    }
}

// ---------------------------------------------------------------- EMFILE

fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers and returns a new fd.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_emfile(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

#[test]
fn a_full_fd_table_fails_new_cleanly_and_existing_pollers_keep_working() {
    let _guard = serial();
    let out = run_child(
        "child_full_fd_table",
        &[("KPOLL_WAKE", None), ("KPOLL_BACKEND", None)],
    );
    assert!(out.contains("full fd table: epoll"), "{out}");
    run_child(
        "child_full_fd_table",
        &[("KPOLL_WAKE", Some("pipe")), ("KPOLL_BACKEND", None)],
    );
}

/// The child half of the test above: with the fd limit lowered and the
/// table filled, `new` fails with `EMFILE` and leaves no fd behind, while a
/// poller made before keeps registering, waiting and waking.
#[test]
#[ignore = "run by a_full_fd_table_fails_new_cleanly_and_existing_pollers_keep_working"]
fn child_full_fd_table() {
    if !in_child() {
        return;
    }
    // SAFETY: getrlimit and setrlimit read and fill the struct given.
    unsafe {
        let mut rlimit = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit), 0);
        rlimit.rlim_cur = open_fds() as libc::rlim_t + 48;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit), 0);
    }

    for backend in Backend::supported() {
        let before = Poller::with_backend(backend).unwrap();
        let (a, b) = pair();
        let (c, d) = pair();

        // Fill the table.
        let mut fillers = Vec::new();
        let err = loop {
            match eventfd() {
                Ok(fd) => fillers.push(fd),
                Err(err) => break err,
            }
        };
        assert!(is_emfile(&err), "{err}");

        // No fd left: new fails with EMFILE.
        let err = Poller::with_backend(backend).unwrap_err();
        assert!(is_emfile(&err), "{backend}: {err}");

        // One fd left: new either fits in it or fails, and then leaves it
        // free (a poller half made is closed).
        fillers.pop();
        match Poller::with_backend(backend) {
            Ok(poller) => drop(poller),
            Err(err) => assert!(is_emfile(&err), "{backend}: {err}"),
        }
        fillers.push(eventfd().expect("the last fd was left free"));

        // The poller made before needs no new fd to work.
        before.register(&b, Interest::READABLE, 1).unwrap();
        before.register(&d, Interest::READABLE, 2).unwrap();
        poke(&a);
        assert_eq!(wait_for(&before, 1, COMES), Some(Readiness::READABLE));
        before.modify(&b, Interest::empty(), 1).unwrap();
        before.deregister(&d).unwrap();
        before.wake().unwrap();
        let mut events = Events::with_capacity(4);
        assert_eq!(before.wait(&mut events, Some(COMES)).unwrap(), 0);

        // Once fds are freed, everything works again.
        fillers.clear();
        let after = Poller::with_backend(backend).unwrap();
        after.register(&d, Interest::READABLE, 3).unwrap();
        poke(&c);
        assert_eq!(wait_for(&after, 3, COMES), Some(Readiness::READABLE));
        println!("full fd table: {backend} refused with EMFILE, recovered");
    }
}

// ---------------------------------------------------------------- pipe wake

/// What each fd of this process is (`pipe:[...]`, `anon_inode:[eventfd]`).
fn fd_kinds() -> Vec<(RawFd, String)> {
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        // The directory being read is an fd too, and not of interest.
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().into_owned();
            if !target.starts_with("/proc/") {
                kinds.push((fd, target));
            }
        }
    }
    kinds
}

/// The fds a new poller of `backend` opens, by kind.
fn opened_by_new(backend: Backend) -> (Poller, Vec<(RawFd, String)>) {
    let before = fd_kinds();
    let poller = Poller::with_backend(backend).unwrap();
    let opened = fd_kinds()
        .into_iter()
        .filter(|fd| !before.iter().any(|(old, _)| *old == fd.0))
        .collect();
    (poller, opened)
}

fn check_wakes(poller: &Poller) {
    // A wake from another thread ends a wait for ever.
    let mut events = Events::with_capacity(4);
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(Duration::from_millis(50));
            poller.wake().unwrap();
        });
        assert_eq!(poller.wait(&mut events, None).unwrap(), 0);
    });
    // Wakes before a wait collapse into one return.
    for _ in 0..100 {
        poller.wake().unwrap();
    }
    assert_eq!(poller.wait(&mut events, Some(COMES)).unwrap(), 0);
    let start = Instant::now();
    assert_eq!(poller.wait(&mut events, Some(QUIET)).unwrap(), 0);
    assert!(start.elapsed() >= QUIET);
}

#[test]
fn kpoll_wake_pipe_makes_every_wake_source_a_pipe() {
    let _guard = serial();
    let out = run_child("child_pipe_wake", &[("KPOLL_WAKE", Some("pipe"))]);
    assert!(out.contains("pipe wake: select"), "{out}");
}

/// The child half of the test above, with `KPOLL_WAKE=pipe`.
#[test]
#[ignore = "run by kpoll_wake_pipe_makes_every_wake_source_a_pipe"]
fn child_pipe_wake() {
    if !in_child() {
        return;
    }
    assert_eq!(std::env::var("KPOLL_WAKE").as_deref(), Ok("pipe"));
    for backend in Backend::supported() {
        let (poller, opened) = opened_by_new(backend);
        let pipes: Vec<_> = opened
            .iter()
            .filter(|(_, kind)| kind.starts_with("pipe:"))
            .collect();
        assert_eq!(pipes.len(), 2, "{backend}: {opened:?}");
        assert!(
            !opened.iter().any(|(_, kind)| kind.contains("eventfd")),
            "{backend}: {opened:?}"
        );
        for (fd, _) in &opened {
            assert!(is_cloexec(*fd), "{backend}: fd {fd} is not close-on-exec");
        }
        check_wakes(&poller);
        println!("pipe wake: {backend} uses {opened:?}");
    }
}

#[test]
fn wake_sources_are_eventfds_unless_pipes_are_asked_for() {
    let _guard = serial();
    let pipe = std::env::var("KPOLL_WAKE").as_deref() == Ok("pipe");
    for backend in Backend::supported() {
        let (poller, opened) = opened_by_new(backend);
        let eventfds = opened.iter().filter(|(_, k)| k.contains("eventfd")).count();
        let pipes = opened
            .iter()
            .filter(|(_, k)| k.starts_with("pipe:"))
            .count();
        if pipe {
            assert_eq!((eventfds, pipes), (0, 2), "{backend}: {opened:?}");
        } else {
            assert_eq!((eventfds, pipes), (1, 0), "{backend}: {opened:?}");
        }
        check_wakes(&poller);
    }
}

// ---------------------------------------------------------------- closed fds

#[test]
fn fds_closed_while_registered_never_crash_or_spin() {
    let _guard = serial();
    each_backend(|backend, poller| {
        let mut pairs: Vec<_> = (0..8).map(|_| pair()).collect();
        for (i, (peer, end)) in pairs.iter().enumerate() {
            let mode = if i % 2 == 0 {
                Interest::empty()
            } else {
                Interest::ONESHOT
            };
            poller
                .register(end, Interest::READABLE | mode, i as u64)
                .unwrap();
            poke(peer);
        }
        // Close the ends of pairs 0..4 (two level, two oneshot), keeping
        // them registered; swap in fresh pairs so the numbers stay taken.
        let mut spare: Vec<_> = (0..4).map(|_| pair()).collect();
        let mut closed = Vec::new();
        for slot in pairs.iter_mut().take(4) {
            closed.push(raw(&slot.1));
            *slot = spare.pop().unwrap();
        }
        drop(spare);

        let mut events = Events::with_capacity(16);
        let mut seen = [0u32; 8];
        for _ in 0..3 {
            for (token, readiness) in wait(poller, &mut events, COMES) {
                let token = token as usize;
                seen[token] += 1;
                if token < 4 {
                    assert_eq!(readiness, Readiness::ERROR, "{backend}");
                } else {
                    assert_eq!(readiness, Readiness::READABLE, "{backend}");
                }
            }
        }
        let expect_closed = match backend {
            // The kernel dropped the closed files from its set.
            Backend::Epoll => [0, 0, 0, 0],
            // Level: every wait; oneshot: once.
            _ => [3, 1, 3, 1],
        };
        assert_eq!(seen[..4], expect_closed, "{backend}");
        assert_eq!(seen[4..], [3, 1, 3, 1], "{backend}");

        // Nothing ready but closed fds and disarmed ones: the wait blocks
        // for its time without spinning (on poll and select, once the level
        // closed fds are deregistered, as they are reported on every wait).
        if backend != Backend::Epoll {
            poller.deregister(closed[0]).unwrap();
            poller.deregister(closed[2]).unwrap();
        }
        for (_, end) in &pairs[4..] {
            drain(end);
        }
        let (start, cpu) = (Instant::now(), thread_cpu());
        assert!(wait(poller, &mut events, Duration::from_millis(200)).is_empty());
        let (wall, used) = (start.elapsed(), thread_cpu() - cpu);
        assert!(wall >= Duration::from_millis(200), "{backend}: {wall:?}");
        assert!(
            used < Duration::from_millis(100),
            "{backend}: spun {used:?}"
        );

        for fd in closed {
            let _ = poller.deregister(fd);
        }
        assert_eq!(poller.stats().registered, 4);
    });
}

#[test]
fn a_reused_fd_number_must_be_deregistered_before_it_registers_again() {
    let _guard = serial();
    each_backend(|backend, poller| {
        let (_a, b) = pair();
        let fd = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        drop(b);
        // A new file under the closed number.
        let other = eventfd().unwrap();
        let fresh = if other.as_raw_fd() == fd {
            other
        } else {
            // SAFETY: dup2 onto a number this test owns (closed above); the
            // OwnedFd then owns the new fd.
            unsafe { OwnedFd::from_raw_fd(libc::dup2(other.as_raw_fd(), fd)) }
        };
        assert_eq!(fresh.as_raw_fd(), fd);
        let err = poller.register(&fresh, Interest::READABLE, 2).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{backend}");
        poller.deregister(fd).unwrap();
        poller.register(&fresh, Interest::READABLE, 2).unwrap();
        // SAFETY: writes 8 bytes from a live u64 to an eventfd.
        let n = unsafe { libc::write(fd, (&1u64 as *const u64).cast(), 8) };
        assert_eq!(n, 8);
        let mut events = Events::with_capacity(4);
        assert_eq!(
            wait(poller, &mut events, COMES),
            [(2, Readiness::READABLE)],
            "{backend}"
        );
    });
}

// ---------------------------------------------------------------- dup

#[test]
fn a_duplicate_and_its_original_are_two_registrations() {
    let _guard = serial();
    each_backend(|backend, poller| {
        let (a, b) = pair();
        // SAFETY: dup returns a new fd that the OwnedFd then owns.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(b.as_raw_fd())) };
        let original = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        poller.register(&dup, Interest::READABLE, 2).unwrap();
        poke(&a);
        let mut events = Events::with_capacity(8);
        let mut found = wait(poller, &mut events, COMES);
        found.sort_by_key(|(t, _)| *t);
        assert_eq!(
            found,
            [(1, Readiness::READABLE), (2, Readiness::READABLE)],
            "{backend}"
        );

        // Close the original: the file lives on through the duplicate.
        drop(b);
        let mut found = wait(poller, &mut events, COMES);
        found.sort_by_key(|(t, _)| *t);
        let original_now = match backend {
            // epoll watches the file, which the duplicate keeps open.
            Backend::Epoll => Readiness::READABLE,
            // poll and select look at the number, which is closed.
            _ => Readiness::ERROR,
        };
        assert_eq!(
            found,
            [(1, original_now), (2, Readiness::READABLE)],
            "{backend}"
        );

        // Deregistered, the original is never reported again.
        poller.deregister(original).unwrap();
        for _ in 0..3 {
            assert_eq!(
                wait(poller, &mut events, COMES),
                [(2, Readiness::READABLE)],
                "{backend}"
            );
        }
        poller.deregister(&dup).unwrap();

        // epoll keeps the closed original's file in its set while the
        // duplicate is open (README, limitations): its events are dropped,
        // but the wait wakes for them. Measured, not asserted, there.
        let (start, cpu) = (Instant::now(), thread_cpu());
        assert!(wait(poller, &mut events, Duration::from_millis(200)).is_empty());
        let (wall, used) = (start.elapsed(), thread_cpu() - cpu);
        assert!(wall >= Duration::from_millis(200), "{backend}: {wall:?}");
        println!("stale duplicate on {backend}: a 200 ms wait used {used:?} of CPU");
        if backend != Backend::Epoll {
            assert!(used < Duration::from_millis(100), "{backend}: {used:?}");
        }
        drop(dup);
        let (start, cpu) = (Instant::now(), thread_cpu());
        assert!(wait(poller, &mut events, Duration::from_millis(100)).is_empty());
        assert!(start.elapsed() >= Duration::from_millis(100));
        let used = thread_cpu() - cpu;
        assert!(used < Duration::from_millis(50), "{backend}: {used:?}");
    });
}

// ---------------------------------------------------------------- fork

/// Exits the forked child at once, without running the parent's atexit
/// handlers or destructors.
fn child_exit(code: i32) -> ! {
    // SAFETY: _exit ends the process and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

#[test]
fn a_forked_child_cannot_change_its_parents_poller() {
    let _guard = serial();
    each_backend(|backend, poller| {
        let (a, b) = pair();
        let (c, d) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        poller
            .register(&d, Interest::READABLE | Interest::ONESHOT, 2)
            .unwrap();
        poke(&a);

        std::io::stdout().flush().unwrap();
        // SAFETY: the child only calls the poller (which refuses at once),
        // makes a poller of its own and ends with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let eperm = |r: std::io::Result<()>| r.err().and_then(|e| e.raw_os_error());
            let mut events = Events::with_capacity(4);
            let checks = [
                eperm(poller.deregister(&b)),
                eperm(poller.modify(&b, Interest::empty(), 9)),
                eperm(poller.modify(&d, Interest::READABLE, 9)),
                eperm(poller.register(&a, Interest::READABLE, 9)),
                eperm(poller.wait(&mut events, Some(Duration::ZERO)).map(drop)),
                eperm(poller.wake()),
            ];
            if checks.iter().any(|c| *c != Some(libc::EPERM)) {
                child_exit(10);
            }
            // The child's own poller works.
            let Ok(own) = Poller::with_backend(backend) else {
                child_exit(11)
            };
            if own.register(&b, Interest::READABLE, 5).is_err() {
                child_exit(12);
            }
            match own.wait(&mut events, Some(COMES)) {
                Ok(1) if events.iter().next().map(|e| e.token()) == Some(5) => child_exit(0),
                _ => child_exit(13),
            }
        }

        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "{backend}: {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "{backend}");

        // The parent's registrations are as they were: b armed with token
        // 1, d still oneshot with token 2.
        assert_eq!(wait_for(poller, 1, COMES), Some(Readiness::READABLE));
        poke(&c);
        let mut events = Events::with_capacity(4);
        let mut found = wait(poller, &mut events, COMES);
        found.sort_by_key(|(t, _)| *t);
        assert_eq!(
            found,
            [(1, Readiness::READABLE), (2, Readiness::READABLE)],
            "{backend}"
        );
        assert_eq!(wait(poller, &mut events, COMES), [(1, Readiness::READABLE)]);
        poller.wake().unwrap();
        assert_eq!(poller.stats().registered, 2);
    });
}
