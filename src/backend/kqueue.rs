//! The kqueue backend, on macOS, FreeBSD, OpenBSD, NetBSD and DragonFly.
//!
//! Written against the kqueue interface of the `libc` crate, and compiled only
//! on those systems: it has not run on the Linux machines kpoll is tested on.
//!
//! kqueue watches a filter per condition (`EVFILT_READ`, `EVFILT_WRITE`), so
//! one fd may come back as two kevents in one call; they are merged into one
//! event here. Oneshot is `EV_DISPATCH` (the filter is disabled once it
//! fired); with both filters, the other is disabled as soon as one fires, so
//! that a oneshot registration reports once. Edge is `EV_CLEAR`. The wake
//! source is an `EVFILT_USER` event where the OS has one, a pipe elsewhere.
//!
//! kqueue reports a regular file as readable only before its end, where
//! poll(2) always reports it ready; regular files, and fds kqueue refuses,
//! are served by the poll(2) fallback so that every backend agrees.
//! kqueue has no urgent-data filter: `PRIORITY` is refused with `ENOTSUP`.

#![allow(clippy::unnecessary_cast)] // the kevent field types differ from one BSD to the next

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use super::fallback::{Fallback, FallbackSet};
use super::registry::{Report, SharedRegistry};
use super::wake::Waker;
use super::{check_open, cvt, errno, Selector};
use crate::event::Sink;
use crate::{Backend, Interest, Readiness};

/// `EVFILT_READ` is in the kernel's set.
const READ_ADDED: u8 = 1;
/// `EVFILT_WRITE` is in the kernel's set.
const WRITE_ADDED: u8 = 2;
/// The registration is served by the poll(2) fallback.
const FALLBACK: u8 = 4;

/// The ident of the `EVFILT_USER` wake event, and the udata of a pipe wake
/// source; a registration's udata is its generation, never this.
const WAKE_IDENT: usize = 0;
const WAKE_UDATA: usize = usize::MAX;

pub(crate) struct Kqueue {
    // The waker refers to the kqueue by number, so it must go first.
    waker: Waker,
    kq: OwnedFd,
    registry: SharedRegistry,
    fallback: FallbackSet,
}

pub(crate) struct Waiter {
    events: Vec<libc::kevent>,
    fallback: Fallback,
    /// Per fd number: the wait that last pushed it and where, to merge the
    /// second filter of an fd into its first event.
    marks: Vec<(u32, u32)>,
    round: u32,
    /// Kevents that did not fit in the last wait. Level-triggered ones would
    /// come again, but a oneshot or edge one was consumed by the kernel, so
    /// all of them are kept and reported first next time.
    backlog: Vec<libc::kevent>,
    /// The backlog being reported, kept to reuse its allocation.
    replay: Vec<libc::kevent>,
}

// SAFETY: the only pointers in a kevent are udata values that kpoll stores
// as integers (generations) and never dereferences.
unsafe impl Send for Waiter {}

fn kevent(ident: usize, filter: i32, flags: u32, fflags: u32, udata: usize) -> libc::kevent {
    // SAFETY: kevent is a plain C struct for which all-zero bytes are valid
    // (a null udata, no extension words).
    let mut event: libc::kevent = unsafe { mem::zeroed() };
    event.ident = ident as _;
    event.filter = filter as _;
    event.flags = flags as _;
    event.fflags = fflags as _;
    event.udata = udata as _;
    event
}

/// Submits `changes` and checks each one's receipt; the first error wins.
fn apply(kq: RawFd, changes: &mut [libc::kevent]) -> io::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let n = changes.len();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the change list and the receipt list are the same live array
    // of `n` kevents, which kevent(2) allows; the timeout is a live timespec.
    let ret = unsafe {
        libc::kevent(
            kq,
            changes.as_ptr(),
            n as _,
            changes.as_mut_ptr(),
            n as _,
            &zero,
        )
    };
    let got = cvt(ret as libc::c_int)? as usize;
    for change in &changes[..got] {
        if change.flags as u32 & libc::EV_ERROR as u32 != 0 && change.data != 0 {
            return Err(errno(change.data as libc::c_int));
        }
    }
    Ok(())
}

/// Triggers the `EVFILT_USER` wake event `ident` of `kq`.
pub(crate) fn trigger(kq: RawFd, ident: usize) -> io::Result<()> {
    let mut change = [kevent(
        ident,
        libc::EVFILT_USER as i32,
        0,
        libc::NOTE_TRIGGER as u32,
        WAKE_UDATA,
    )];
    apply(kq, &mut change)
}

fn is_regular_file(fd: RawFd) -> io::Result<bool> {
    // SAFETY: stat is a plain C struct, valid when zeroed; fstat fills it.
    let mut stat: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: `stat` is live and writable.
    cvt(unsafe { libc::fstat(fd, &mut stat) })?;
    Ok(stat.st_mode & libc::S_IFMT == libc::S_IFREG)
}

impl Kqueue {
    /// Brings the kernel's filters for `fd` from `added` to what `interest`
    /// asks, and returns the filters now added.
    fn set_filters(
        &self,
        fd: RawFd,
        added: u8,
        interest: Interest,
        udata: usize,
    ) -> io::Result<u8> {
        let mut flags = libc::EV_ADD | libc::EV_ENABLE | libc::EV_RECEIPT;
        if interest.is_oneshot() {
            flags |= libc::EV_DISPATCH;
        }
        if interest.is_edge() {
            flags |= libc::EV_CLEAR;
        }
        let delete = libc::EV_DELETE | libc::EV_RECEIPT;

        let mut changes = [kevent(0, 0, 0, 0, 0); 2];
        let mut n = 0;
        let mut now = 0;
        for (filter, bit, wanted) in [
            (
                libc::EVFILT_READ,
                READ_ADDED,
                interest.contains(Interest::READABLE),
            ),
            (
                libc::EVFILT_WRITE,
                WRITE_ADDED,
                interest.contains(Interest::WRITABLE),
            ),
        ] {
            if wanted {
                changes[n] = kevent(fd as usize, filter as i32, flags as u32, 0, udata);
                n += 1;
                now |= bit;
            } else if added & bit != 0 {
                changes[n] = kevent(fd as usize, filter as i32, delete as u32, 0, udata);
                n += 1;
            }
        }
        apply(self.kq.as_raw_fd(), &mut changes[..n])?;
        Ok(now)
    }

    /// Disables the filters of a oneshot registration that reported.
    fn disarm(&self, fd: RawFd, added: u8) {
        let flags = (libc::EV_DISABLE | libc::EV_RECEIPT) as u32;
        let mut changes = [kevent(0, 0, 0, 0, 0); 2];
        let mut n = 0;
        for (filter, bit) in [
            (libc::EVFILT_READ, READ_ADDED),
            (libc::EVFILT_WRITE, WRITE_ADDED),
        ] {
            if added & bit != 0 {
                changes[n] = kevent(fd as usize, filter as i32, flags, 0, 0);
                n += 1;
            }
        }
        // The registration is disarmed in the registry already; a filter
        // that could not be disabled only brings events that are dropped.
        let _ = apply(self.kq.as_raw_fd(), &mut changes[..n]);
    }

    fn readiness(event: &libc::kevent) -> Readiness {
        let flags = event.flags as u32;
        let mut readiness = Readiness::empty();
        if event.filter as i32 == libc::EVFILT_READ as i32 {
            readiness |= Readiness::READABLE;
        }
        if event.filter as i32 == libc::EVFILT_WRITE as i32 {
            readiness |= Readiness::WRITABLE;
        }
        if flags & libc::EV_EOF as u32 != 0 {
            readiness |= Readiness::HANGUP;
            if event.fflags != 0 {
                readiness |= Readiness::ERROR;
            }
        }
        if flags & libc::EV_ERROR as u32 != 0 {
            readiness |= Readiness::ERROR;
        }
        readiness
    }
}

impl Selector for Kqueue {
    type Waiter = Waiter;

    const BACKEND: Backend = Backend::Kqueue;
    const EDGE: bool = true;
    const PRIORITY: bool = false;

    fn new() -> io::Result<(Kqueue, Waiter)> {
        // SAFETY: kqueue takes no arguments and returns a new fd.
        let kq = cvt(unsafe { libc::kqueue() })?;
        // SAFETY: `kq` was just opened and is owned by no one else.
        let kq = unsafe { OwnedFd::from_raw_fd(kq) };
        super::set_cloexec(kq.as_raw_fd())?;

        let waker = if cfg!(target_os = "openbsd") || crate::poller::pipe_wake() {
            let waker = Waker::new(true)?;
            let fd = waker.fd().expect("a pipe waker has an fd");
            let flags = (libc::EV_ADD | libc::EV_RECEIPT) as u32;
            apply(
                kq.as_raw_fd(),
                &mut [kevent(
                    fd as usize,
                    libc::EVFILT_READ as i32,
                    flags,
                    0,
                    WAKE_UDATA,
                )],
            )?;
            waker
        } else {
            #[cfg(not(target_os = "openbsd"))]
            {
                let flags = (libc::EV_ADD | libc::EV_CLEAR | libc::EV_RECEIPT) as u32;
                let user = libc::EVFILT_USER as i32;
                apply(
                    kq.as_raw_fd(),
                    &mut [kevent(WAKE_IDENT, user, flags, 0, WAKE_UDATA)],
                )?;
                Waker::user_event(kq.as_raw_fd(), WAKE_IDENT)
            }
            #[cfg(target_os = "openbsd")]
            unreachable!()
        };

        let kqueue = Kqueue {
            waker,
            kq,
            registry: SharedRegistry::default(),
            fallback: FallbackSet::default(),
        };
        let waiter = Waiter {
            events: Vec::new(),
            fallback: Fallback::default(),
            marks: Vec::new(),
            round: 0,
            backlog: Vec::new(),
            replay: Vec::new(),
        };
        Ok((kqueue, waiter))
    }

    fn register(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut registry = self.registry.lock();
        registry.check_vacant(fd)?;
        let udata = registry.next_generation() as usize;

        let flags = if is_regular_file(fd)? {
            FALLBACK
        } else {
            match self.set_filters(fd, 0, interest, udata) {
                Ok(added) => added,
                Err(err) if matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENODEV)) => {
                    FALLBACK
                }
                Err(err) => return Err(err),
            }
        };
        if flags == FALLBACK && interest.is_edge() {
            return Err(errno(libc::ENOTSUP));
        }
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
        if interest.conditions().is_empty() {
            check_open(fd)?;
        }
        // kqueue forgets the filters of a closed fd: ENOENT means it is gone.
        let added = self
            .set_filters(fd, slot.flags, interest, slot.generation as usize)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ENOENT) => errno(libc::EBADF),
                _ => err,
            })?;
        slot.flags = added;
        slot.rearm(interest, token);
        Ok(())
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let slot = self.registry.lock().remove(fd)?;
        if slot.flags == FALLBACK {
            return self.fallback.removed(&self.waker);
        }
        // A closed fd's filters are gone already: the error is not the
        // caller's concern.
        let _ = self.set_filters(fd, slot.flags, Interest::empty(), 0);
        Ok(())
    }

    fn select(
        &self,
        waiter: &mut Waiter,
        sink: &mut Sink<'_>,
        timeout_ms: i32,
    ) -> io::Result<bool> {
        let kq = self.kq.as_raw_fd();
        self.fallback
            .refresh(&mut waiter.fallback, kq, &self.registry, FALLBACK);
        let timeout_ms = if waiter.backlog.is_empty() {
            timeout_ms
        } else {
            0
        };
        let blocked = (|| {
            let mut timeout_ms = timeout_ms;
            let mut fallback_ready = 0;
            if !waiter.fallback.is_empty() {
                fallback_ready = waiter.fallback.poll(timeout_ms)?;
                timeout_ms = 0;
            }
            let capacity = sink.capacity();
            let max = waiter.fallback.kernel_room(capacity, fallback_ready);
            if max == 0 {
                return Ok((0, fallback_ready, 0));
            }
            // Two filters per fd at most: ask for twice the room, so that a
            // full buffer of merged events is possible.
            let room = max.saturating_mul(2);
            if waiter.events.len() < room {
                waiter.events.resize(room, kevent(0, 0, 0, 0, 0));
            }
            let spec;
            let timeout = if timeout_ms < 0 {
                ptr::null()
            } else {
                spec = libc::timespec {
                    tv_sec: (timeout_ms / 1000) as _,
                    tv_nsec: ((timeout_ms % 1000) * 1_000_000) as _,
                };
                &spec as *const libc::timespec
            };
            // SAFETY: no changes are passed; the event list holds at least
            // `room` live kevents that only this thread touches; `timeout`
            // is null or points at a live timespec.
            let ret = unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    ptr::null(),
                    0,
                    waiter.events.as_mut_ptr(),
                    room as _,
                    timeout,
                )
            };
            let n = cvt(ret as libc::c_int)? as usize;
            Ok::<_, io::Error>((n, fallback_ready, max))
        })();
        let (n, fallback_ready, max) = blocked?;
        if n == 0 && fallback_ready == 0 && waiter.backlog.is_empty() {
            return Ok(false);
        }

        waiter.round = waiter.round.wrapping_add(1);
        let round = waiter.round;
        let mut woken = false;
        let mut registry = self.registry.lock();
        mem::swap(&mut waiter.replay, &mut waiter.backlog);
        let fresh = waiter.events[..n].iter();
        for event in waiter.replay.iter().chain(fresh) {
            if event.udata as usize == WAKE_UDATA {
                woken |= self.waker.drain();
                continue;
            }
            let fd = event.ident as RawFd;
            let Some(slot) = registry.get_mut(fd) else {
                continue;
            };
            let found = Self::readiness(event);
            let readiness = slot.reportable(found);
            if slot.generation as usize != event.udata as usize || readiness.is_empty() {
                continue;
            }

            let index = fd as usize;
            if waiter.marks.len() <= index {
                waiter.marks.resize(index + 1, (0, 0));
            }
            let (seen, at) = waiter.marks[index];
            if seen == round {
                sink.merge(at as usize, readiness);
                continue;
            }
            if !slot.armed {
                continue;
            }
            if sink.len() >= max {
                waiter.backlog.push(*event);
                continue;
            }
            waiter.marks[index] = (round, sink.len() as u32);
            let disarmed = slot.report(fd, found, sink) == Report::Disarmed;
            if disarmed && slot.flags == READ_ADDED | WRITE_ADDED {
                self.disarm(fd, slot.flags);
            }
        }
        waiter.replay.clear();
        if fallback_ready > 0 {
            waiter.fallback.report(&mut registry, sink);
        }
        Ok(woken)
    }

    fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    fn pollable_fd(&self) -> Option<RawFd> {
        Some(self.kq.as_raw_fd())
    }

    fn counts(&self) -> (usize, usize) {
        (self.registry.lock().len(), self.fallback.len())
    }
}
