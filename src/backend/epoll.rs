//! The epoll backend, on Linux.
//!
//! The kernel keeps the set; a wait costs what its events cost. Each
//! registration's epoll data holds its fd and a generation, so an event the
//! kernel queued for an earlier registration of the same fd number is
//! dropped rather than reported with the wrong token.
//!
//! epoll reports `EPOLLERR` and `EPOLLHUP` for every fd in its set, asked or
//! not, so a disarmed registration (empty interest) is kept out of the
//! kernel's set altogether; a oneshot registration that fired is disarmed by
//! the kernel itself (`EPOLLONESHOT` clears the whole mask).
//!
//! epoll refuses regular files and some devices with `EPERM`; those are
//! served by the `poll(2)` fallback, in the same wait.
//!
//! A closed fd leaves the kernel's set when its last duplicate is closed, and
//! is not reported. While a duplicate lives, the kernel keeps reporting it
//! under the old registration's data; kpoll drops those events, but the wait
//! sees them (see the README's limitations).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::fallback::{Fallback, FallbackSet};
use super::registry::SharedRegistry;
use super::wake::Waker;
use super::{check_open, cvt, errno, Selector};
use crate::event::Sink;
use crate::{Backend, Interest, Readiness};

/// The registration is in the kernel's set.
const IN_KERNEL: u8 = 1;
/// The registration is served by the poll(2) fallback.
const FALLBACK: u8 = 2;

/// The epoll data of the wake source; a registration's data never has it,
/// as its low half is a non-negative fd.
const WAKE_DATA: u64 = u64::MAX;

pub(crate) struct Epoll {
    epfd: OwnedFd,
    waker: Waker,
    registry: SharedRegistry,
    fallback: FallbackSet,
}

pub(crate) struct Waiter {
    events: Vec<libc::epoll_event>,
    fallback: Fallback,
}

fn data(fd: RawFd, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(fd as u32)
}

fn epoll_events(interest: Interest) -> u32 {
    let mut events = 0;
    if interest.contains(Interest::READABLE) {
        events |= libc::EPOLLIN;
    }
    if interest.contains(Interest::WRITABLE) {
        events |= libc::EPOLLOUT;
    }
    if interest.contains(Interest::PRIORITY) {
        events |= libc::EPOLLPRI;
    }
    if interest.is_oneshot() {
        events |= libc::EPOLLONESHOT;
    }
    if interest.is_edge() {
        events |= libc::EPOLLET;
    }
    events as u32
}

fn epoll_readiness(events: u32) -> Readiness {
    let events = events as libc::c_int;
    let mut readiness = Readiness::empty();
    if events & libc::EPOLLIN != 0 {
        readiness |= Readiness::READABLE;
    }
    if events & libc::EPOLLOUT != 0 {
        readiness |= Readiness::WRITABLE;
    }
    if events & libc::EPOLLPRI != 0 {
        readiness |= Readiness::PRIORITY;
    }
    if events & libc::EPOLLERR != 0 {
        readiness |= Readiness::ERROR;
    }
    if events & libc::EPOLLHUP != 0 {
        readiness |= Readiness::HANGUP;
    }
    readiness
}

impl Epoll {
    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: `event` is a live epoll_event; the kernel copies it (and
        // ignores it for EPOLL_CTL_DEL).
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut event) }).map(drop)
    }

    /// Adds `fd` to the kernel's set with `interest`, and tells which flag
    /// the registration gets: `IN_KERNEL`, `FALLBACK` when epoll refuses the
    /// fd, or none for a disarmed interest.
    fn add(&self, fd: RawFd, interest: Interest, data: u64) -> io::Result<u8> {
        let armed = !interest.conditions().is_empty();
        // A disarmed fd is added and removed at once, to learn whether epoll
        // takes it.
        match self.ctl(
            libc::EPOLL_CTL_ADD,
            fd,
            if armed { epoll_events(interest) } else { 0 },
            data,
        ) {
            Ok(()) if armed => Ok(IN_KERNEL),
            Ok(()) => {
                self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)?;
                Ok(0)
            }
            Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                if interest.is_edge() {
                    Err(errno(libc::ENOTSUP))
                } else {
                    Ok(FALLBACK)
                }
            }
            Err(err) => Err(err),
        }
    }

    /// The blocking part of a wait: poll(2) over the epoll fd and the
    /// fallback fds when there are any, then epoll_wait.
    fn block(
        &self,
        waiter: &mut Waiter,
        capacity: usize,
        timeout_ms: i32,
    ) -> io::Result<(usize, usize)> {
        let mut timeout_ms = timeout_ms;
        let mut fallback_ready = 0;
        if !waiter.fallback.is_empty() {
            fallback_ready = waiter.fallback.poll(timeout_ms)?;
            timeout_ms = 0;
        }

        let max = waiter.fallback.kernel_room(capacity, fallback_ready);
        if max == 0 {
            return Ok((0, fallback_ready));
        }
        if waiter.events.len() < max {
            waiter
                .events
                .resize(max, libc::epoll_event { events: 0, u64: 0 });
        }
        // SAFETY: `events` holds at least `max` entries that the kernel may
        // overwrite; only this thread touches them.
        let n = cvt(unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                waiter.events.as_mut_ptr(),
                max as libc::c_int,
                timeout_ms,
            )
        })?;
        Ok((n as usize, fallback_ready))
    }
}

impl Selector for Epoll {
    type Waiter = Waiter;

    const BACKEND: Backend = Backend::Epoll;
    const EDGE: bool = true;
    const PRIORITY: bool = true;

    fn new() -> io::Result<(Epoll, Waiter)> {
        // SAFETY: epoll_create1 takes no pointers and returns a new fd.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epfd` was just opened and is owned by no one else.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        let waker = Waker::new(crate::poller::pipe_wake())?;
        let epoll = Epoll {
            epfd,
            waker,
            registry: SharedRegistry::default(),
            fallback: FallbackSet::default(),
        };
        let wake_fd = epoll.waker.fd().expect("an epoll waker has an fd");
        epoll.ctl(
            libc::EPOLL_CTL_ADD,
            wake_fd,
            libc::EPOLLIN as u32,
            WAKE_DATA,
        )?;
        let waiter = Waiter {
            events: Vec::new(),
            fallback: Fallback::default(),
        };
        Ok((epoll, waiter))
    }

    fn register(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut registry = self.registry.lock();
        registry.check_vacant(fd)?;
        let flags = self.add(fd, interest, data(fd, registry.next_generation()))?;
        registry.insert(fd, interest, token, flags);
        drop(registry);

        if flags == FALLBACK {
            self.fallback.added(&self.waker)?;
        }
        Ok(())
    }

    fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut registry = self.registry.lock();
        let slot = registry.find(fd)?;

        if slot.flags == FALLBACK {
            return self.fallback.modify(slot, fd, interest, token, &self.waker);
        }

        let data = data(fd, slot.generation);
        let armed = !interest.conditions().is_empty();
        let result = match (slot.flags == IN_KERNEL, armed) {
            (true, true) => self.ctl(libc::EPOLL_CTL_MOD, fd, epoll_events(interest), data),
            (false, true) => self.ctl(libc::EPOLL_CTL_ADD, fd, epoll_events(interest), data),
            (true, false) => self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0),
            (false, false) => check_open(fd),
        };
        // The kernel forgets an fd whose last duplicate was closed: ENOENT
        // then means that the registered fd is gone.
        result.map_err(|err| match err.raw_os_error() {
            Some(libc::ENOENT) => errno(libc::EBADF),
            _ => err,
        })?;

        slot.flags = if armed { IN_KERNEL } else { 0 };
        slot.rearm(interest, token);
        Ok(())
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let slot = self.registry.lock().remove(fd)?;
        if slot.flags == IN_KERNEL {
            // A closed fd has left the kernel's set already: the error is
            // not the caller's concern.
            let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
        }
        if slot.flags == FALLBACK {
            self.fallback.removed(&self.waker)?;
        }
        Ok(())
    }

    fn select(
        &self,
        waiter: &mut Waiter,
        sink: &mut Sink<'_>,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        let epfd = self.epfd.as_raw_fd();
        self.fallback
            .refresh(&mut waiter.fallback, epfd, &self.registry, FALLBACK);
        let (n, fallback_ready) = self.block(waiter, sink.capacity(), timeout_ms)?;
        if n == 0 && fallback_ready == 0 {
            return Ok(false);
        }

        let mut woken = false;
        let mut registry = self.registry.lock();
        for event in &waiter.events[..n] {
            let (bits, data) = (event.events, event.u64);
            if data == WAKE_DATA {
                woken |= self.waker.drain();
                continue;
            }
            let fd = data as u32 as RawFd;
            let Some(slot) = registry.get_mut(fd) else {
                continue;
            };
            if slot.generation == (data >> 32) as u32 {
                slot.report(fd, epoll_readiness(bits), sink);
            }
        }
        if fallback_ready > 0 {
            waiter.fallback.report(&mut registry, sink);
        }
        Ok(woken)
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    fn pollable_fd(&self) -> Option<RawFd> {
        Some(self.epfd.as_raw_fd())
    }

    fn counts(&self) -> (usize, usize) {
        (self.registry.lock().len(), self.fallback.len())
    }
}
