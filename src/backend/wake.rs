//! The wake source of a poller: an eventfd on Linux, kqueue's `EVFILT_USER`
//! where it exists, a pipe everywhere else or when eventfd cannot be had.
//!
//! Two kinds of signal share it. A *wake* comes from the user and makes the
//! wait return. A *nudge* comes from a register, modify or deregister made
//! while a thread waits on a backend that keeps its own set: the waiter wakes,
//! takes the change in and goes on waiting. Both are coalesced: the source is
//! written only when no signal is pending already, so any number of wakes
//! before a wait cost one write and make one return.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::{cvt, cvt_size};

const WAKE: u8 = 1;
const NUDGE: u8 = 2;

enum Source {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Eventfd(OwnedFd),
    Pipe {
        read: OwnedFd,
        write: OwnedFd,
    },
    /// A kqueue whose `EVFILT_USER` event `ident` is triggered. The kqueue is
    /// owned by the backend, which outlives this waker.
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    User {
        kqueue: RawFd,
        ident: usize,
    },
}

/// A coalescing wake source.
pub(crate) struct Waker {
    source: Source,
    pending: AtomicU8,
    waiting: AtomicBool,
}

impl Waker {
    /// An eventfd where the OS has one and `force_pipe` is false, else a pipe.
    pub fn new(force_pipe: bool) -> io::Result<Waker> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if !force_pipe {
            match eventfd() {
                Ok(fd) => return Ok(Waker::with(Source::Eventfd(fd))),
                Err(err) if err.raw_os_error() == Some(libc::ENOSYS) => {}
                Err(err) => return Err(err),
            }
        }
        let _ = force_pipe;

        let (read, write) = pipe()?;
        Ok(Waker::with(Source::Pipe { read, write }))
    }

    /// A waker that triggers `EVFILT_USER` event `ident` of `kqueue`.
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    pub fn user_event(kqueue: RawFd, ident: usize) -> Waker {
        Waker::with(Source::User { kqueue, ident })
    }

    fn with(source: Source) -> Waker {
        Waker {
            source,
            pending: AtomicU8::new(0),
            waiting: AtomicBool::new(false),
        }
    }

    /// The fd to poll for readability, or `None` for `EVFILT_USER`.
    pub fn fd(&self) -> Option<RawFd> {
        match &self.source {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Source::Eventfd(fd) => Some(fd.as_raw_fd()),
            Source::Pipe { read, .. } => Some(read.as_raw_fd()),
            #[cfg(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "dragonfly"
            ))]
            Source::User { .. } => None,
        }
    }

    /// Whether the source is a pipe (for tests and the fallback warning).
    #[allow(dead_code)]
    pub fn is_pipe(&self) -> bool {
        matches!(self.source, Source::Pipe { .. })
    }

    /// A user wake. Async-signal-safe.
    pub fn wake(&self) -> io::Result<()> {
        self.signal(WAKE)
    }

    /// Tells the waiter, if there is one, that its set changed.
    pub fn nudge(&self) -> io::Result<()> {
        // Pairs with the SeqCst store in `enter`: either the waiter sees the
        // change the caller made before calling this, or this sees the waiter.
        if self.waiting.load(Ordering::SeqCst) {
            self.signal(NUDGE)
        } else {
            Ok(())
        }
    }

    /// Tells the waiter that its set changed, whether one waits or not: a
    /// backend whose waiter checks for changes only rarely (the fallback list
    /// of the kernel polls) thereby keeps `enter` and `leave` off its wait
    /// path, at the cost of one spurious return of the next wait.
    #[cfg_attr(any(target_os = "solaris", target_os = "illumos"), allow(dead_code))]
    pub fn nudge_always(&self) -> io::Result<()> {
        self.signal(NUDGE)
    }

    /// Marks the start of a blocking call; the caller then checks for
    /// changes made before it (see `nudge`).
    pub fn enter(&self) {
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// Marks the end of a blocking call.
    pub fn leave(&self) {
        self.waiting.store(false, Ordering::SeqCst);
    }

    /// Consumes the signals pending, once the source has fired; returns
    /// whether one of them was a user wake.
    pub fn drain(&self) -> bool {
        // Read first, then clear: a signal sent after the read writes again
        // and is seen by the next wait.
        match &self.source {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Source::Eventfd(fd) => {
                let mut counter = 0u64;
                // SAFETY: reads 8 bytes into a live u64; the fd is a
                // non-blocking eventfd, so a spurious call returns EAGAIN.
                let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
            }
            Source::Pipe { read, .. } => {
                let mut buf = [0u8; 64];
                loop {
                    // SAFETY: reads into a live stack buffer of that length;
                    // the pipe is non-blocking, so the loop ends at EAGAIN.
                    let n =
                        unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        break;
                    }
                }
            }
            #[cfg(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "dragonfly"
            ))]
            Source::User { .. } => {}
        }
        self.pending.swap(0, Ordering::AcqRel) & WAKE != 0
    }

    fn signal(&self, kind: u8) -> io::Result<()> {
        if self.pending.fetch_or(kind, Ordering::AcqRel) != 0 {
            return Ok(());
        }
        match &self.source {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Source::Eventfd(fd) => write_ignoring_full(fd.as_raw_fd(), &1u64.to_ne_bytes()),
            Source::Pipe { write, .. } => write_ignoring_full(write.as_raw_fd(), &[1]),
            #[cfg(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "dragonfly"
            ))]
            Source::User { kqueue, ident } => super::kqueue::trigger(*kqueue, *ident),
        }
    }
}

/// Writes `bytes`; a full pipe or eventfd is already readable, so `EAGAIN`
/// is success.
fn write_ignoring_full(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: writes from a live buffer of that length; write(2) is
        // async-signal-safe.
        let ret = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        match cvt_size(ret) {
            Ok(_) => return Ok(()),
            Err(err) => match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(()),
                _ => return Err(err),
            },
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; on success it returns a new fd that
    // nothing else owns.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: `fd` was just opened and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A non-blocking, close-on-exec pipe.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];

    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    // SAFETY: pipe2 writes two fds into the array it is given.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;

    #[cfg(any(target_os = "macos", target_os = "ios"))]
    // SAFETY: pipe writes two fds into the array it is given.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;

    // SAFETY: both fds were just opened and are owned by no one else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    #[cfg(any(target_os = "macos", target_os = "ios"))]
    for fd in [&read, &write] {
        super::set_cloexec(fd.as_raw_fd())?;
        // SAFETY: F_SETFL on an fd this process owns only changes its flags.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
    }

    Ok((read, write))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, no timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }

    #[test]
    fn wakes_coalesce_into_one() {
        for force_pipe in [false, true] {
            let waker = Waker::new(force_pipe).unwrap();
            assert_eq!(
                waker.is_pipe(),
                force_pipe || cfg!(not(target_os = "linux"))
            );
            let fd = waker.fd().unwrap();
            assert!(!readable(fd));
            waker.wake().unwrap();
            waker.wake().unwrap();
            assert!(readable(fd));
            assert!(waker.drain());
            assert!(!readable(fd));
            assert!(!waker.drain());
        }
    }

    #[test]
    fn nudges_reach_only_a_waiter_and_are_not_wakes() {
        let waker = Waker::new(false).unwrap();
        let fd = waker.fd().unwrap();
        waker.nudge().unwrap();
        assert!(!readable(fd));
        waker.enter();
        waker.nudge().unwrap();
        assert!(readable(fd));
        waker.leave();
        assert!(!waker.drain());
    }
}
