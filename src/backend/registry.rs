//! What a poller knows of each registered fd, kept by every backend.
//!
//! The table is indexed by the fd itself: fds are small dense integers, so a
//! lookup on the wait path is one bounds check, and the memory is one slot per
//! fd number up to the highest registered.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard};

use super::errno;
use crate::event::Sink;
use crate::{Event, Interest, Readiness};

/// One registration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// The caller's token, given at `register` or `modify`.
    pub token: u64,
    /// The interest, conditions and modes.
    pub interest: Interest,
    /// Tells this registration apart from an earlier one of the same fd
    /// number, so that an event the kernel queued for that one is dropped.
    /// The backends that keep their own set have no such queue.
    #[cfg_attr(any(target_os = "solaris", target_os = "illumos"), allow(dead_code))]
    pub generation: u32,
    /// Whether the registration may report: false for an empty interest, and
    /// for a oneshot registration once it has reported.
    pub armed: bool,
    /// Bits of the backend's own (what it added to the kernel).
    pub flags: u8,
}

/// The registrations of one poller.
#[derive(Default)]
pub(crate) struct Registry {
    slots: Vec<Option<Slot>>,
    len: usize,
    generation: u32,
}

impl Registry {
    /// How many fds are registered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The registration of `fd`, if any.
    pub fn get(&self, fd: RawFd) -> Option<&Slot> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    /// The registration of `fd`, if any, to change.
    pub fn get_mut(&mut self, fd: RawFd) -> Option<&mut Slot> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    /// The registration of `fd`, or `ENOENT`.
    pub fn find(&mut self, fd: RawFd) -> io::Result<&mut Slot> {
        self.get_mut(fd).ok_or_else(|| errno(libc::ENOENT))
    }

    /// `EEXIST` if `fd` is registered.
    pub fn check_vacant(&self, fd: RawFd) -> io::Result<()> {
        match self.get(fd) {
            Some(_) => Err(errno(libc::EEXIST)),
            None => Ok(()),
        }
    }

    /// The generation the next registration will carry.
    pub fn next_generation(&self) -> u32 {
        self.generation.wrapping_add(1)
    }

    /// Adds a registration of `fd`, which must be vacant, and returns it.
    pub fn insert(&mut self, fd: RawFd, interest: Interest, token: u64, flags: u8) -> &mut Slot {
        let index = usize::try_from(fd).expect("registered fds are non-negative");
        if index >= self.slots.len() {
            self.slots.resize(index + 1, None);
        }
        self.generation = self.next_generation();
        self.len += 1;
        self.slots[index].insert(Slot {
            token,
            interest,
            generation: self.generation,
            armed: !interest.conditions().is_empty(),
            flags,
        })
    }

    /// Removes the registration of `fd` and returns it, or `ENOENT`.
    pub fn remove(&mut self, fd: RawFd) -> io::Result<Slot> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|index| self.slots.get_mut(index))
            .and_then(Option::take)
            .ok_or_else(|| errno(libc::ENOENT))?;
        self.len -= 1;
        Ok(slot)
    }

    /// Every registration, in fd order.
    pub fn iter(&self) -> impl Iterator<Item = (RawFd, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, slot)| Some((fd as RawFd, slot.as_ref()?)))
    }

    /// One past the highest fd that may be registered.
    pub fn bound(&self) -> usize {
        self.slots.len()
    }
}

/// The registry as the callers' threads and the waiter share it.
#[derive(Default)]
pub(crate) struct SharedRegistry(Mutex<Registry>);

impl SharedRegistry {
    /// Locks the registry. A panic while it was held leaves it consistent
    /// (every change is one assignment), so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What [`Slot::report`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Report {
    /// Nothing: disarmed, or nothing it may report.
    Nothing,
    /// An event was pushed.
    Pushed,
    /// An event was pushed, and the oneshot registration is now disarmed:
    /// a backend that keeps its own set disarms it there too.
    Disarmed,
}

impl Slot {
    /// What this registration may report of `found`: the conditions it
    /// asked for, and errors and hangups always.
    pub fn reportable(&self, found: Readiness) -> Readiness {
        found & (self.interest.conditions() | Readiness::ALWAYS)
    }

    /// Pushes the event for `fd` that `found` makes, if the registration is
    /// armed and may report it, and disarms a oneshot registration that did.
    /// The caller has checked that the sink has room.
    pub fn report(&mut self, fd: RawFd, found: Readiness, sink: &mut Sink<'_>) -> Report {
        let readiness = self.reportable(found);
        if !self.armed || readiness.is_empty() {
            return Report::Nothing;
        }
        sink.push(Event::new(fd, self.token, readiness));
        if self.interest.is_oneshot() {
            self.armed = false;
            Report::Disarmed
        } else {
            Report::Pushed
        }
    }

    /// Takes a new interest and token, re-arming the registration.
    pub fn rearm(&mut self, interest: Interest, token: u64) {
        self.interest = interest;
        self.token = token;
        self.armed = !interest.conditions().is_empty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_registration_per_fd() {
        let mut registry = Registry::default();
        registry.insert(5, Interest::READABLE, 1, 0);
        assert_eq!(
            registry.check_vacant(5).unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );
        assert_eq!(registry.len(), 1);
        assert_eq!(registry.remove(5).unwrap().token, 1);
        assert_eq!(
            registry.remove(5).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn generations_tell_registrations_apart() {
        let mut registry = Registry::default();
        let first = registry.insert(3, Interest::READABLE, 1, 0).generation;
        registry.remove(3).unwrap();
        let second = registry.insert(3, Interest::READABLE, 1, 0).generation;
        assert_ne!(first, second);
    }

    #[test]
    fn empty_interest_is_disarmed() {
        let mut registry = Registry::default();
        assert!(!registry.insert(0, Interest::empty(), 0, 0).armed);
        assert!(!registry.insert(1, Interest::ONESHOT, 0, 0).armed);
        assert!(registry.insert(2, Interest::WRITABLE, 0, 0).armed);
        let fds: Vec<RawFd> = registry.iter().map(|(fd, _)| fd).collect();
        assert_eq!(fds, [0, 1, 2]);
    }

    #[test]
    fn report_masks_by_interest_and_disarms_oneshot() {
        let mut events = crate::Events::with_capacity(4);
        {
            let mut sink = events.sink();
            let mut level = Registry::default();
            let slot = level.insert(3, Interest::WRITABLE, 7, 0);
            // Not asked for: nothing.
            assert_eq!(
                slot.report(3, Readiness::READABLE, &mut sink),
                Report::Nothing
            );
            // Hangups always, the asked condition, never the others.
            let found = Readiness::READABLE | Readiness::WRITABLE | Readiness::HANGUP;
            assert_eq!(slot.report(3, found, &mut sink), Report::Pushed);

            let mut oneshot = Registry::default();
            let slot = oneshot.insert(4, Interest::READABLE | Interest::ONESHOT, 8, 0);
            assert_eq!(
                slot.report(4, Readiness::READABLE, &mut sink),
                Report::Disarmed
            );
            assert_eq!(
                slot.report(4, Readiness::READABLE, &mut sink),
                Report::Nothing
            );
        }

        let reported: Vec<_> = events
            .iter()
            .map(|e| (e.fd(), e.token(), e.readiness()))
            .collect();
        let hung_up = Readiness::WRITABLE | Readiness::HANGUP;
        assert_eq!(reported, [(3, 7, hung_up), (4, 8, Readiness::READABLE)]);
    }

    #[test]
    fn negative_fds_are_never_found() {
        let mut registry = Registry::default();
        assert!(registry.get(-1).is_none());
        assert_eq!(
            registry.find(-1).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }
}
