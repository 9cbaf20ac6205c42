//! The `poll(2)` backend, on every Unix.
//!
//! The set lives here, as an array of `pollfd` that the waiter rebuilds when a
//! registration changed. A change made while a thread waits nudges it: the
//! wake source is the array's first entry. Oneshot is emulated: a reported
//! oneshot registration is disarmed in the registry and in the array at once.
//! A closed fd comes back as `POLLNVAL`, reported as `ERROR`.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::registry::{Report, SharedRegistry};
use super::wake::Waker;
use super::{check_open, cvt, poll_events, poll_readiness, Selector};
use crate::event::Sink;
use crate::{Backend, Interest};

pub(crate) struct Poll {
    registry: SharedRegistry,
    dirty: AtomicBool,
    waker: Waker,
}

/// The waiter's array: the wake source first, then one entry per armed fd.
pub(crate) struct Waiter {
    fds: Vec<libc::pollfd>,
    /// Where the next scan starts, so that when more fds are ready than fit,
    /// the ones left out come first next time.
    cursor: usize,
}

impl Poll {
    /// Records that the set changed, and tells a waiter.
    fn changed(&self) -> io::Result<()> {
        self.dirty.store(true, Ordering::SeqCst);
        self.waker.nudge()
    }

    fn rebuild(&self, waiter: &mut Waiter) {
        let registry = self.registry.lock();
        self.dirty.store(false, Ordering::SeqCst);
        waiter.fds.truncate(1);
        // Room for every registration, armed or not: how many are armed
        // changes from wait to wait, the registrations rarely.
        waiter.fds.reserve(registry.len());
        for (fd, slot) in registry.iter() {
            if slot.armed {
                waiter.fds.push(libc::pollfd {
                    fd,
                    events: poll_events(slot.interest),
                    revents: 0,
                });
            }
        }
    }
}

impl Selector for Poll {
    type Waiter = Waiter;

    const BACKEND: Backend = Backend::Poll;
    const EDGE: bool = false;
    const PRIORITY: bool = true;

    fn new() -> io::Result<(Poll, Waiter)> {
        let waker = Waker::new(crate::poller::pipe_wake())?;
        let wake_fd = waker.fd().expect("a poll waker has an fd");
        let waiter = Waiter {
            fds: vec![libc::pollfd {
                fd: wake_fd,
                events: libc::POLLIN,
                revents: 0,
            }],
            cursor: 1,
        };
        let poll = Poll {
            registry: SharedRegistry::default(),
            dirty: AtomicBool::new(false),
            waker,
        };
        Ok((poll, waiter))
    }

    fn register(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        {
            // The registry first, as on every backend: a registered fd that
            // was closed is EEXIST, not EBADF.
            let mut registry = self.registry.lock();
            registry.check_vacant(fd)?;
            check_open(fd)?;
            registry.insert(fd, interest, token, 0);
        }
        self.changed()
    }

    fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        {
            let mut registry = self.registry.lock();
            let slot = registry.find(fd)?;
            check_open(fd)?;
            slot.rearm(interest, token);
        }
        self.changed()
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.registry.lock().remove(fd)?;
        self.changed()
    }

    fn select(
        &self,
        waiter: &mut Waiter,
        sink: &mut Sink<'_>,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        self.waker.enter();
        if self.dirty.load(Ordering::SeqCst) {
            self.rebuild(waiter);
        }
        let nfds = waiter.fds.len() as libc::nfds_t;
        // SAFETY: `fds` is a live array of `nfds` pollfd entries that only
        // this thread touches during the call.
        let ret = unsafe { libc::poll(waiter.fds.as_mut_ptr(), nfds, timeout_ms) };
        self.waker.leave();
        let ready = cvt(ret)? as usize;
        if ready == 0 {
            return Ok(false);
        }

        let woken = waiter.fds[0].revents != 0 && self.waker.drain();
        // poll(2) counts the entries it filled in: the scan stops at the last.
        let mut left = ready - usize::from(waiter.fds[0].revents != 0);
        if left == 0 {
            return Ok(woken);
        }

        let mut registry = self.registry.lock();
        let len = waiter.fds.len();
        let start = if (1..len).contains(&waiter.cursor) {
            waiter.cursor
        } else {
            1
        };
        for (lo, hi) in [(start, len), (1, start)] {
            for (offset, entry) in waiter.fds[lo..hi].iter_mut().enumerate() {
                if entry.revents == 0 {
                    continue;
                }
                if sink.is_full() {
                    waiter.cursor = lo + offset;
                    return Ok(woken);
                }
                let found = poll_readiness(entry.revents);
                entry.revents = 0;

                // The registry is the truth: the fd may have been changed or
                // deregistered while poll ran.
                if let Some(slot) = registry.get_mut(entry.fd) {
                    if slot.report(entry.fd, found, sink) == Report::Disarmed {
                        // Disarmed here too: poll(2) skips negative fds.
                        entry.fd = -1 - entry.fd;
                    }
                }
                left -= 1;
                if left == 0 {
                    return Ok(woken);
                }
            }
        }
        Ok(woken)
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    fn pollable_fd(&self) -> Option<RawFd> {
        None
    }

    fn counts(&self) -> (usize, usize) {
        (self.registry.lock().len(), 0)
    }
}
