//! The backends, one file each, behind one contract.
//!
//! Every backend is a [`Selector`]: it owns the kernel object (or the set it
//! keeps itself), its registry of fds, and the wake source. The generic code in
//! `poller.rs` adds what is the same everywhere: the one-waiter rule, the
//! retry of `EINTR` with the time that remains, the timeout arithmetic, the
//! fork guard and the statistics. A backend's `select` makes one blocking call
//! and reports what it saw; it never loops on its own.
//!
//! What each backend must give, native or emulated (see the crate docs and
//! DESIGN.md's table):
//!
//! | rule | epoll | kqueue | /dev/poll | poll | select |
//! |---|---|---|---|---|---|
//! | oneshot | `EPOLLONESHOT` | `EV_DISPATCH` | emulated | emulated | emulated |
//! | edge | `EPOLLET` | `EV_CLEAR` | `ENOTSUP` | `ENOTSUP` | `ENOTSUP` |
//! | priority | `EPOLLPRI` | `ENOTSUP` | `POLLPRI` | `POLLPRI` | except set |
//! | merging | native | merged here | native | native | merged here |
//! | wake | eventfd | `EVFILT_USER` | pipe | eventfd/pipe | eventfd/pipe |
//! | change during a wait | native | native | waiter nudged | waiter nudged | waiter nudged |
//! | refused fds | poll(2) fallback | poll(2) fallback | - | - | - |
//!
//! Backends that keep their own set (poll, select, /dev/poll's oneshot
//! emulation, the fallback list of epoll and kqueue) are told of a change made
//! while a thread waits by a *nudge*: the wake source fires without a user
//! wake, the waiter rebuilds its set and goes on waiting for the time left.
//! poll, select and /dev/poll nudge only a thread that is inside a wait (a
//! flag the waiter sets around its blocking call); epoll and kqueue, whose
//! fallback list changes rarely, nudge always and keep the flag off their
//! wait path.

use std::io;
use std::os::fd::RawFd;

use crate::event::Sink;
use crate::{Backend, Interest, Readiness};

#[cfg(any(target_os = "solaris", target_os = "illumos"))]
pub(crate) mod devpoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod epoll;
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
pub(crate) mod fallback;
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
pub(crate) mod kqueue;
pub(crate) mod poll;
pub(crate) mod registry;
pub(crate) mod select;
pub(crate) mod wake;

#[cfg(not(unix))]
compile_error!("kpoll supports Unix systems only");

/// The contract every backend meets.
pub(crate) trait Selector: Send + Sync + Sized {
    /// State that only the thread inside `select` touches: buffers reused
    /// from wait to wait, so that a wait allocates nothing in steady state.
    type Waiter: Send;

    /// Which backend this is.
    const BACKEND: Backend;
    /// Whether `Interest::EDGE` is native here.
    const EDGE: bool;
    /// Whether `Interest::PRIORITY` can be watched here.
    const PRIORITY: bool;

    /// Creates the kernel object and the wake source, all close-on-exec.
    fn new() -> io::Result<(Self, Self::Waiter)>;

    /// Adds `fd`; `EEXIST` if it is registered already.
    fn register(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()>;

    /// Replaces the interest and token of `fd`, re-arming it; `ENOENT` if it
    /// is not registered.
    fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()>;

    /// Forgets `fd`, whatever the kernel says about it; `ENOENT` if it is not
    /// registered.
    fn deregister(&self, fd: RawFd) -> io::Result<()>;

    /// Makes one blocking call of at most `timeout_ms` (-1: no limit) and
    /// writes what it found into `sink`. Returns whether a user wake was
    /// consumed. `EINTR` is returned as is; the caller retries.
    fn select(
        &self,
        waiter: &mut Self::Waiter,
        sink: &mut Sink<'_>,
        timeout_ms: i32,
    ) -> io::Result<bool>;

    /// Makes the wait in progress, or the next one, return. Async-signal-safe:
    /// atomics and one `write` or `kevent` at most.
    fn wake(&self) -> io::Result<()>;

    /// The fd that is readable whenever `select` would report an event.
    fn pollable_fd(&self) -> Option<RawFd>;

    /// How many fds are registered, and how many of those the fallback serves.
    fn counts(&self) -> (usize, usize);
}

/// Turns the return value of a libc call into a result, taking `errno` when
/// it is -1.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The same for calls that return `ssize_t`.
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<libc::ssize_t> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An error carrying `errno` value `code`.
pub(crate) fn errno(code: libc::c_int) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// `EBADF` unless `fd` is an open descriptor of this process.
pub(crate) fn check_open(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD reads the descriptor flags and has no other effect; an
    // unopened fd makes it fail with EBADF.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map(drop)
}

/// Marks `fd` close-on-exec, for systems that lack the atomic flags.
#[allow(dead_code)]
pub(crate) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD on a descriptor this process owns only changes its flags.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

/// The `poll(2)` events asked for by `interest`.
pub(crate) fn poll_events(interest: Interest) -> libc::c_short {
    let mut events = 0;
    if interest.contains(Interest::READABLE) {
        events |= libc::POLLIN;
    }
    if interest.contains(Interest::WRITABLE) {
        events |= libc::POLLOUT;
    }
    if interest.contains(Interest::PRIORITY) {
        events |= libc::POLLPRI;
    }
    events
}

/// The readiness in `poll(2)`'s `revents`. `POLLNVAL` (the fd was closed while
/// registered) is reported as an error.
pub(crate) fn poll_readiness(revents: libc::c_short) -> Readiness {
    let mut readiness = Readiness::empty();
    if revents & libc::POLLIN != 0 {
        readiness |= Readiness::READABLE;
    }
    if revents & libc::POLLOUT != 0 {
        readiness |= Readiness::WRITABLE;
    }
    if revents & libc::POLLPRI != 0 {
        readiness |= Readiness::PRIORITY;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        readiness |= Readiness::ERROR;
    }
    if revents & libc::POLLHUP != 0 {
        readiness |= Readiness::HANGUP;
    }
    readiness
}
