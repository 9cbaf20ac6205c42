//! The `/dev/poll` backend, on Solaris and illumos.
//!
//! Written against the interface of `<sys/devpoll.h>` (whose few definitions
//! the `libc` crate lacks and are given here), and compiled only on those
//! systems: it has not run on the Linux machines kpoll is tested on.
//!
//! The kernel keeps the set: a `pollfd` written to the device adds an fd, or
//! ORs events into its entry, and `POLLREMOVE` drops it; `DP_POLL` waits.
//! Since writes OR, a modify removes the entry and writes it anew. There is
//! no oneshot or edge mode: oneshot is emulated by removing the entry of a
//! oneshot registration as it reports, and edge is refused. A disarmed
//! registration is kept out of the set, as the kernel reports `POLLHUP` and
//! `POLLERR` for every entry. Changes made while a thread waits nudge it, as
//! the device is not documented to take them into a poll in progress.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::registry::{Report, SharedRegistry};
use super::wake::Waker;
use super::{check_open, cvt, cvt_size, poll_events, poll_readiness, Selector};
use crate::event::Sink;
use crate::{Backend, Interest};

/// `POLLREMOVE` of `<sys/poll.h>`: removes the fd from the set.
const POLLREMOVE: libc::c_short = 0x0800;
/// `DP_POLL` of `<sys/devpoll.h>`: `(0xD0 << 8) | 1`.
const DP_POLL: libc::c_int = 0xD001;

/// `struct dvpoll` of `<sys/devpoll.h>`.
#[repr(C)]
struct Dvpoll {
    dp_fds: *mut libc::pollfd,
    dp_nfds: libc::c_int,
    dp_timeout: libc::c_int,
}

/// The registration has an entry in the device's set.
const IN_SET: u8 = 1;

pub(crate) struct Devpoll {
    dp: OwnedFd,
    waker: Waker,
    registry: SharedRegistry,
}

pub(crate) struct Waiter {
    fds: Vec<libc::pollfd>,
}

impl Devpoll {
    /// Writes entries to the device.
    fn write(&self, entries: &[libc::pollfd]) -> io::Result<()> {
        let len = std::mem::size_of_val(entries);
        // SAFETY: writes `len` bytes from a live array of pollfd entries.
        let ret = unsafe { libc::write(self.dp.as_raw_fd(), entries.as_ptr().cast(), len) };
        cvt_size(ret).map(drop)
    }

    fn add(&self, fd: RawFd, interest: Interest) -> io::Result<()> {
        self.write(&[libc::pollfd {
            fd,
            events: poll_events(interest),
            revents: 0,
        }])
    }

    fn remove(&self, fd: RawFd) -> io::Result<()> {
        self.write(&[libc::pollfd {
            fd,
            events: POLLREMOVE,
            revents: 0,
        }])
    }
}

impl Selector for Devpoll {
    type Waiter = Waiter;

    const BACKEND: Backend = Backend::Devpoll;
    const EDGE: bool = false;
    const PRIORITY: bool = true;

    fn new() -> io::Result<(Devpoll, Waiter)> {
        let path = c"/dev/poll";
        // SAFETY: `path` is a NUL-terminated string; open returns a new fd.
        let dp = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
        // SAFETY: `dp` was just opened and is owned by no one else.
        let dp = unsafe { OwnedFd::from_raw_fd(dp) };
        let waker = Waker::new(true)?;
        let devpoll = Devpoll {
            dp,
            waker,
            registry: SharedRegistry::default(),
        };
        let wake_fd = devpoll.waker.fd().expect("a pipe waker has an fd");
        devpoll.add(wake_fd, Interest::READABLE)?;
        Ok((devpoll, Waiter { fds: Vec::new() }))
    }

    fn register(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut registry = self.registry.lock();
        registry.check_vacant(fd)?;
        check_open(fd)?;
        let armed = !interest.conditions().is_empty();
        if armed {
            self.add(fd, interest)?;
        }
        registry.insert(fd, interest, token, if armed { IN_SET } else { 0 });
        drop(registry);
        self.waker.nudge()
    }

    fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut registry = self.registry.lock();
        let slot = registry.find(fd)?;
        check_open(fd)?;
        if slot.flags == IN_SET {
            self.remove(fd)?;
            slot.flags = 0;
        }
        if !interest.conditions().is_empty() {
            self.add(fd, interest)?;
            slot.flags = IN_SET;
        }
        slot.rearm(interest, token);
        drop(registry);
        self.waker.nudge()
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let slot = self.registry.lock().remove(fd)?;
        if slot.flags == IN_SET {
            // A closed fd's entry goes with it: the error is not the
            // caller's concern.
            let _ = self.remove(fd);
        }
        self.waker.nudge()
    }

    fn select(
        &self,
        waiter: &mut Waiter,
        sink: &mut Sink<'_>,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        // One more than the sink holds, for the wake source.
        let room = sink.capacity() + 1;
        if waiter.fds.len() < room {
            waiter.fds.resize(
                room,
                libc::pollfd {
                    fd: -1,
                    events: 0,
                    revents: 0,
                },
            );
        }
        let mut request = Dvpoll {
            dp_fds: waiter.fds.as_mut_ptr(),
            dp_nfds: room as libc::c_int,
            dp_timeout: timeout_ms,
        };

        self.waker.enter();
        // SAFETY: DP_POLL takes a live dvpoll whose array holds `room`
        // entries that the kernel may overwrite; only this thread uses it.
        let ret = unsafe { libc::ioctl(self.dp.as_raw_fd(), DP_POLL as _, &mut request) };
        self.waker.leave();
        let n = cvt(ret)? as usize;

        let wake_fd = self.waker.fd();
        let mut woken = false;
        let mut registry = self.registry.lock();
        for entry in &waiter.fds[..n] {
            if Some(entry.fd) == wake_fd {
                woken |= self.waker.drain();
                continue;
            }
            let Some(slot) = registry.get_mut(entry.fd) else {
                continue;
            };
            if sink.is_full() {
                continue;
            }
            if slot.report(entry.fd, poll_readiness(entry.revents), sink) == Report::Disarmed {
                slot.flags = 0;
                let _ = self.remove(entry.fd);
            }
        }
        Ok(woken)
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    fn pollable_fd(&self) -> Option<RawFd> {
        Some(self.dp.as_raw_fd())
    }

    fn counts(&self) -> (usize, usize) {
        (self.registry.lock().len(), 0)
    }
}
