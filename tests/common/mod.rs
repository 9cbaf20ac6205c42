//! What the conformance tests share: running one check on every backend this
//! host has, socket pairs, and waits that collect what they saw.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use kpoll::{Backend, Events, Poller, Readiness};

/// Long enough for an event that must come, on a loaded two-core machine.
pub const COMES: Duration = Duration::from_secs(5);
/// Long enough for an event that must not come to have come, if it would.
pub const QUIET: Duration = Duration::from_millis(50);

/// The concrete backends of this host.
pub fn backends() -> Vec<Backend> {
    Backend::supported()
}

/// Runs `check` with a fresh poller on every backend, naming the backend
/// in the failure.
pub fn each_backend(check: impl Fn(Backend, &Poller)) {
    for backend in backends() {
        let poller = Poller::with_backend(backend).expect("new poller");
        assert_eq!(poller.backend(), backend);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(backend, &poller))) {
            eprintln!("failed on backend {backend}");
            resume_unwind(panic);
        }
    }
}

/// A connected pair of non-blocking Unix stream sockets.
pub fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Writes one byte.
pub fn poke(mut stream: &UnixStream) {
    stream.write_all(b"x").expect("write");
}

/// Reads everything there is.
pub fn drain(mut stream: &UnixStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// One wait; the (token, readiness) pairs it returned.
pub fn wait(poller: &Poller, events: &mut Events, timeout: Duration) -> Vec<(u64, Readiness)> {
    let n = poller.wait(events, Some(timeout)).expect("wait");
    assert_eq!(n, events.len());
    events.iter().map(|e| (e.token(), e.readiness())).collect()
}

/// The readiness reported for `token` by one wait, if any.
pub fn wait_for(poller: &Poller, token: u64, timeout: Duration) -> Option<Readiness> {
    let mut events = Events::with_capacity(64);
    let found = wait(poller, &mut events, timeout);
    let mine: Vec<Readiness> = found
        .iter()
        .filter(|(t, _)| *t == token)
        .map(|(_, r)| *r)
        .collect();
    assert!(
        mine.len() <= 1,
        "more than one event for token {token}: {found:?}"
    );
    mine.first().copied()
}

/// The fds this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Whether `fd` is close-on-exec.
pub fn is_cloexec(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

/// The raw fd of anything that has one.
pub fn raw(fd: &impl AsRawFd) -> RawFd {
    fd.as_raw_fd()
}

/// Serialises the tests of one binary that close fds while registered: the
/// test harness runs tests on several threads, and another test's new fd
/// could otherwise take a number that a test expects to stay closed.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
