//! The `poll(2)` fallback of the kernel-poll backends.
//!
//! epoll refuses regular files and some devices (`EPERM`) that `poll(2)`
//! accepts and reports ready. Such an fd is still registered; the backend
//! marks it and the waiter watches it here, with `poll(2)`, in the same call
//! as the kernel-poll fd itself. When the list is empty, this costs nothing.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::registry::{Registry, Report, SharedRegistry, Slot};
use super::wake::Waker;
use super::{check_open, cvt, errno, poll_events, poll_readiness};
use crate::event::Sink;
use crate::Interest;

/// The callers' part: how many registrations the fallback serves, and
/// whether the waiter's list is out of date.
#[derive(Default)]
pub(crate) struct FallbackSet {
    len: AtomicUsize,
    dirty: AtomicBool,
}

impl FallbackSet {
    /// How many registrations the fallback serves.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Counts a registration the fallback now serves.
    pub fn added(&self, waker: &Waker) -> io::Result<()> {
        self.len.fetch_add(1, Ordering::Relaxed);
        self.changed(waker)
    }

    /// Counts a fallback registration that was removed.
    pub fn removed(&self, waker: &Waker) -> io::Result<()> {
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.changed(waker)
    }

    /// Gives a fallback registration a new interest and token: `ENOTSUP`
    /// for edge, which poll(2) cannot give, `EBADF` for a closed fd.
    pub fn modify(
        &self,
        slot: &mut Slot,
        fd: RawFd,
        interest: Interest,
        token: u64,
        waker: &Waker,
    ) -> io::Result<()> {
        if interest.is_edge() {
            return Err(errno(libc::ENOTSUP));
        }
        check_open(fd)?;
        slot.rearm(interest, token);
        self.changed(waker)
    }

    /// Records that the list changed. The waiter checks the flag before it
    /// blocks; the nudge, sent whether it waits or not, makes it look again
    /// if it did block.
    fn changed(&self, waker: &Waker) -> io::Result<()> {
        self.dirty.store(true, Ordering::SeqCst);
        waker.nudge_always()
    }

    /// Brings the waiter's list up to date with the registrations marked
    /// with `flag`, if it changed.
    pub fn refresh(
        &self,
        list: &mut Fallback,
        kernel_fd: RawFd,
        registry: &SharedRegistry,
        flag: u8,
    ) {
        if self.dirty.load(Ordering::SeqCst) {
            let registry = registry.lock();
            self.dirty.store(false, Ordering::SeqCst);
            list.rebuild(kernel_fd, &registry, flag);
        }
    }
}

/// The waiter's part: the kernel-poll fd first, then the armed fallback fds.
#[derive(Default)]
pub(crate) struct Fallback {
    fds: Vec<libc::pollfd>,
    cursor: usize,
    /// Whether the fallback fds have the first pick of the next wait in
    /// which they are ready; they and the kernel's events take turns.
    first: bool,
}

impl Fallback {
    /// Rebuilds the list from the registrations marked with `flag`.
    pub fn rebuild(&mut self, kernel_fd: RawFd, registry: &Registry, flag: u8) {
        self.fds.clear();
        // Room for every fallback registration, armed or not, so that arming
        // and disarming them does not grow the list.
        let count = registry
            .iter()
            .filter(|(_, slot)| slot.flags & flag != 0)
            .count();
        self.fds.reserve(count + 1);
        let entries = registry
            .iter()
            .filter(|(_, slot)| slot.flags & flag != 0 && slot.armed);
        for (fd, slot) in entries {
            if self.fds.is_empty() {
                self.fds.push(libc::pollfd {
                    fd: kernel_fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            self.fds.push(libc::pollfd {
                fd,
                events: poll_events(slot.interest),
                revents: 0,
            });
        }
    }

    /// Whether there is nothing to watch.
    pub fn is_empty(&self) -> bool {
        self.fds.len() <= 1
    }

    /// Waits for the kernel-poll fd or a fallback fd; returns how many
    /// fallback fds are ready.
    pub fn poll(&mut self, timeout_ms: i32) -> io::Result<usize> {
        let nfds = self.fds.len() as libc::nfds_t;
        // SAFETY: `fds` is a live array of `nfds` entries that only the
        // waiting thread touches.
        cvt(unsafe { libc::poll(self.fds.as_mut_ptr(), nfds, timeout_ms) })?;
        Ok(self.fds[1..]
            .iter()
            .filter(|entry| entry.revents != 0)
            .count())
    }

    /// How many of a wait's `capacity` slots the kernel's events may take
    /// when `ready` fallback fds are ready. The two sources take turns at
    /// the first pick, so that neither starves the other whatever the
    /// capacity; the second fills the room the first left.
    // Known gap: turns keep each fd within 2*ceil(R/C)+1 waits, not ceil(R/C).
    pub fn kernel_room(&mut self, capacity: usize, ready: usize) -> usize {
        if ready == 0 {
            return capacity;
        }
        let room = if self.first {
            capacity.saturating_sub(ready)
        } else {
            capacity
        };
        self.first = !self.first;
        room
    }

    /// Reports the ready fallback fds into `sink`, from the cursor on.
    pub fn report(&mut self, registry: &mut Registry, sink: &mut Sink<'_>) {
        let count = self.fds.len().saturating_sub(1);
        if count == 0 {
            return;
        }
        let start = self.cursor % count;
        for step in 0..count {
            let index = 1 + (start + step) % count;
            let entry = &mut self.fds[index];
            if entry.revents == 0 || entry.fd < 0 {
                continue;
            }
            if sink.is_full() {
                self.cursor = index - 1;
                return;
            }
            let found = poll_readiness(entry.revents);
            entry.revents = 0;
            let Some(slot) = registry.get_mut(entry.fd) else {
                continue;
            };
            if slot.report(entry.fd, found, sink) == Report::Disarmed {
                entry.fd = -1 - entry.fd;
            }
        }
        self.cursor = start;
    }
}
