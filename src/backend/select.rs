//! The `select(2)` backend, on every Unix.
//!
//! The fd sets are bit arrays of our own, as long as the highest registered
//! fd needs: `FD_SET` on an fd at or above `FD_SETSIZE` is undefined
//! behaviour, but the kernel reads as many bits as `nfds` says. The waiter
//! keeps master sets, rebuilt when a registration changed, and copies them
//! into working sets that the call overwrites. select reports the three
//! conditions of one fd in three sets; they are merged into one event here.
//!
//! select cannot see a hangup (the fd is reported readable, and the read
//! returns 0), and fails the whole call with `EBADF` when a watched fd was
//! closed: the closed fds are then found one by one, reported as `ERROR`,
//! and the call is made again without them.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use super::registry::{Report, SharedRegistry};
use super::wake::Waker;
use super::{check_open, Selector};
use crate::event::Sink;
use crate::{Backend, Interest, Readiness};

/// The word of the kernel's fd sets.
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "netbsd",
    target_os = "openbsd"
))]
type Word = u32;
#[cfg(not(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
type Word = libc::c_ulong;

const BITS: usize = Word::BITS as usize;

pub(crate) struct Select {
    registry: SharedRegistry,
    dirty: AtomicBool,
    waker: Waker,
}

/// Three growable fd sets.
#[derive(Default)]
struct Sets {
    read: Vec<Word>,
    write: Vec<Word>,
    except: Vec<Word>,
}

impl Sets {
    /// Clears the first `words` words of each set, growing them if needed.
    fn reset(&mut self, words: usize) {
        for set in [&mut self.read, &mut self.write, &mut self.except] {
            if set.len() < words {
                set.resize(words, 0);
            }
            set[..words].fill(0);
        }
    }

    fn copy_from(&mut self, other: &Sets, words: usize) {
        self.reset(words);
        self.read[..words].copy_from_slice(&other.read[..words]);
        self.write[..words].copy_from_slice(&other.write[..words]);
        self.except[..words].copy_from_slice(&other.except[..words]);
    }

    fn set(&mut self, fd: RawFd, interest: Interest) {
        let (word, bit) = position(fd);
        if interest.contains(Interest::READABLE) {
            self.read[word] |= bit;
        }
        if interest.contains(Interest::WRITABLE) {
            self.write[word] |= bit;
        }
        if interest.contains(Interest::PRIORITY) {
            self.except[word] |= bit;
        }
    }

    fn clear(&mut self, fd: RawFd) {
        let (word, bit) = position(fd);
        self.read[word] &= !bit;
        self.write[word] &= !bit;
        self.except[word] &= !bit;
    }

    fn readiness(&self, fd: RawFd) -> Readiness {
        let (word, bit) = position(fd);
        let mut readiness = Readiness::empty();
        if self.read[word] & bit != 0 {
            readiness |= Readiness::READABLE;
        }
        if self.write[word] & bit != 0 {
            readiness |= Readiness::WRITABLE;
        }
        if self.except[word] & bit != 0 {
            readiness |= Readiness::PRIORITY;
        }
        readiness
    }

    /// The bits set in any of the three sets at `word`.
    fn any(&self, word: usize) -> Word {
        self.read[word] | self.write[word] | self.except[word]
    }
}

fn position(fd: RawFd) -> (usize, Word) {
    let fd = fd as usize;
    (fd / BITS, 1 << (fd % BITS))
}

pub(crate) struct Waiter {
    master: Sets,
    work: Sets,
    /// One past the highest fd in the master sets.
    nfds: usize,
    /// The registered fds found closed in this wait.
    closed: Vec<RawFd>,
    /// Where the next scan starts, for fairness.
    cursor: usize,
}

impl Waiter {
    fn words(&self) -> usize {
        self.nfds.div_ceil(BITS)
    }
}

impl Select {
    fn changed(&self) -> io::Result<()> {
        self.dirty.store(true, Ordering::SeqCst);
        self.waker.nudge()
    }

    fn wake_fd(&self) -> RawFd {
        self.waker.fd().expect("a select waker has an fd")
    }

    fn rebuild(&self, waiter: &mut Waiter) {
        let registry = self.registry.lock();
        self.dirty.store(false, Ordering::SeqCst);
        let wake_fd = self.wake_fd();
        waiter.nfds = registry.bound().max(wake_fd as usize + 1);
        let words = waiter.words();
        waiter.master.reset(words);
        waiter.master.set(wake_fd, Interest::READABLE);
        for (fd, slot) in registry.iter() {
            if slot.armed {
                waiter.master.set(fd, slot.interest);
            }
        }
    }

    /// One select(2) on the working copy of the master sets, leaving out the
    /// fds in `waiter.closed`.
    fn call(&self, waiter: &mut Waiter, timeout_ms: i32) -> io::Result<usize> {
        let words = waiter.words();
        waiter.work.copy_from(&waiter.master, words);
        for &fd in &waiter.closed {
            waiter.work.clear(fd);
        }

        let mut tv = libc::timeval {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_usec: ((timeout_ms % 1000) * 1000) as libc::suseconds_t,
        };
        let tvp = if timeout_ms < 0 {
            std::ptr::null_mut()
        } else {
            &mut tv as *mut libc::timeval
        };
        let sets = &mut waiter.work;
        // SAFETY: each set is an array of at least `words` words, enough for
        // `nfds` bits, which is all the kernel reads and writes; the casts
        // give the kernel's fd_set view of the same memory.
        let ret = unsafe {
            libc::select(
                waiter.nfds as libc::c_int,
                sets.read.as_mut_ptr().cast(),
                sets.write.as_mut_ptr().cast(),
                sets.except.as_mut_ptr().cast(),
                tvp,
            )
        };
        super::cvt(ret).map(|n| n as usize)
    }

    /// Finds the armed registrations of this call whose fd was closed, in
    /// fd order.
    fn find_closed(&self, waiter: &mut Waiter) {
        waiter.closed.clear();
        for (fd, slot) in self.registry.lock().iter() {
            if slot.armed && (fd as usize) < waiter.nfds && check_open(fd).is_err() {
                waiter.closed.push(fd);
            }
        }
    }

    /// Reports what the working sets hold, from the cursor on.
    /// Reports what the working sets hold, from the cursor on. `left` is
    /// how many bits they hold in all (select's count, and one per closed
    /// fd): the scan stops at the last.
    fn report(&self, waiter: &mut Waiter, sink: &mut Sink<'_>, mut left: usize) {
        let mut registry = self.registry.lock();
        let wake_fd = self.wake_fd();

        let nfds = waiter.nfds;
        let start = if waiter.cursor < nfds {
            waiter.cursor
        } else {
            0
        };
        for (lo, hi) in [(start, nfds), (0, start)] {
            let mut fd = lo;
            while fd < hi && left > 0 {
                let word = fd / BITS;
                let bits = waiter.work.any(word) >> (fd % BITS);
                if bits == 0 {
                    fd = (word + 1) * BITS;
                    continue;
                }
                fd += bits.trailing_zeros() as usize;
                if fd >= hi {
                    break;
                }
                let raw = fd as RawFd;
                fd += 1;
                let found = waiter.work.readiness(raw);
                left = left.saturating_sub(found.bits().count_ones() as usize);
                if raw == wake_fd {
                    continue;
                }
                let Some(slot) = registry.get_mut(raw) else {
                    continue;
                };
                // A closed fd takes its turn in the scan like the others, so
                // that closed fds cannot starve the ready ones.
                let found = if waiter.closed.binary_search(&raw).is_ok() {
                    Readiness::ERROR
                } else {
                    found
                };
                if !slot.armed || slot.reportable(found).is_empty() {
                    continue;
                }
                if sink.is_full() {
                    waiter.cursor = raw as usize;
                    return;
                }
                if slot.report(raw, found, sink) == Report::Disarmed {
                    waiter.master.clear(raw);
                }
            }
        }
        waiter.cursor = start;
    }
}

impl Selector for Select {
    type Waiter = Waiter;

    const BACKEND: Backend = Backend::Select;
    const EDGE: bool = false;
    const PRIORITY: bool = true;

    fn new() -> io::Result<(Select, Waiter)> {
        let waker = Waker::new(crate::poller::pipe_wake())?;
        let select = Select {
            registry: SharedRegistry::default(),
            dirty: AtomicBool::new(true),
            waker,
        };
        let waiter = Waiter {
            master: Sets::default(),
            work: Sets::default(),
            nfds: 0,
            closed: Vec::new(),
            cursor: 0,
        };
        Ok((select, waiter))
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
        waiter.closed.clear();
        let mut result = self.call(waiter, timeout_ms);
        self.waker.leave();

        if matches!(&result, Err(err) if err.raw_os_error() == Some(libc::EBADF)) {
            // A watched fd was closed: report it, and look at the others
            // without blocking, so that they are not starved by it.
            self.find_closed(waiter);
            result = self.call(waiter, 0);
            if matches!(&result, Err(err) if err.raw_os_error() == Some(libc::EBADF)) {
                // Another one was closed meanwhile; the next call finds it.
                waiter.work.reset(waiter.words());
                result = Ok(0);
            }
        }
        let ready = result?;
        // The closed fds are marked in the working sets for the scan.
        for &fd in &waiter.closed {
            waiter.work.set(fd, Interest::READABLE);
        }
        if ready == 0 && waiter.closed.is_empty() {
            return Ok(false);
        }

        let wake_fd = self.wake_fd();
        let woken =
            waiter.work.readiness(wake_fd).contains(Readiness::READABLE) && self.waker.drain();
        let left = ready + waiter.closed.len();
        self.report(waiter, sink, left);
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
