//! What a wait returns: one [`Event`] per ready fd, gathered in a reusable
//! [`Events`] buffer.

use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use crate::Readiness;

/// One ready fd: the token it was registered with, the fd, and what it is
/// ready for. Every bit the fd has is merged into one event per wait.
///
/// The layout is that of `kpoll_event` in the C header (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Event {
    token: u64,
    fd: i32,
    readiness: u32,
}

impl Event {
    pub(crate) const fn new(fd: RawFd, token: u64, readiness: Readiness) -> Event {
        Event {
            token,
            fd,
            readiness: readiness.bits(),
        }
    }

    /// The token given at `register` or at the last `modify`.
    pub const fn token(&self) -> u64 {
        self.token
    }

    /// The fd that is ready.
    pub const fn fd(&self) -> RawFd {
        self.fd
    }

    /// What the fd is ready for.
    pub const fn readiness(&self) -> Readiness {
        Readiness::from_bits_truncate(self.readiness)
    }

    /// Whether the fd is readable.
    pub const fn is_readable(&self) -> bool {
        self.readiness().contains(Readiness::READABLE)
    }

    /// Whether the fd is writable.
    pub const fn is_writable(&self) -> bool {
        self.readiness().contains(Readiness::WRITABLE)
    }

    /// Whether urgent data is pending.
    pub const fn is_priority(&self) -> bool {
        self.readiness().contains(Readiness::PRIORITY)
    }

    /// Whether an error is pending on the fd.
    pub const fn is_error(&self) -> bool {
        self.readiness().contains(Readiness::ERROR)
    }

    /// Whether the fd was hung up.
    pub const fn is_hangup(&self) -> bool {
        self.readiness().contains(Readiness::HANGUP)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("fd", &self.fd)
            .field("readiness", &self.readiness())
            .finish()
    }
}

/// A buffer that a wait fills with events. Make it once and pass it to every
/// [`Poller::wait`](crate::Poller::wait): a wait never allocates.
///
/// # Examples
///
/// ```
/// let events = kpoll::Events::with_capacity(64);
/// assert_eq!(events.capacity(), 64);
/// assert!(events.is_empty());
/// ```
pub struct Events {
    slots: Box<[MaybeUninit<Event>]>,
    len: usize,
}

impl Events {
    /// A buffer for up to `capacity` events per wait (at least one).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            slots: vec![MaybeUninit::uninit(); capacity].into_boxed_slice(),
            len: 0,
        }
    }

    /// How many events a wait may return at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many events the last wait returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait returned no event.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the events held.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The events of the last wait.
    pub fn as_slice(&self) -> &[Event] {
        let filled = &self.slots[..self.len];
        // SAFETY: the first `len` slots were written by `Sink::push` during the
        // last wait, and `MaybeUninit<Event>` has the layout of `Event`.
        unsafe { &*(filled as *const [MaybeUninit<Event>] as *const [Event]) }
    }

    /// Iterates over the events of the last wait.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.as_slice().iter()
    }

    pub(crate) fn sink(&mut self) -> Sink<'_> {
        self.len = 0;
        Sink::new(&mut self.slots, &mut self.len)
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Where a backend writes the events of one wait: a slice of possibly
/// uninitialised slots, from an [`Events`] or from a C caller's array.
pub(crate) struct Sink<'a> {
    slots: &'a mut [MaybeUninit<Event>],
    len: &'a mut usize,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(slots: &'a mut [MaybeUninit<Event>], len: &'a mut usize) -> Sink<'a> {
        *len = 0;
        Sink { slots, len }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn len(&self) -> usize {
        *self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        *self.len == self.slots.len()
    }

    /// Appends an event; a full sink drops it (callers check `is_full` first).
    pub(crate) fn push(&mut self, event: Event) {
        if let Some(slot) = self.slots.get_mut(*self.len) {
            slot.write(event);
            *self.len += 1;
        }
    }

    /// Merges `readiness` into the event already at `index` (for backends
    /// that see one fd more than once per call).
    #[allow(dead_code)]
    pub(crate) fn merge(&mut self, index: usize, readiness: Readiness) {
        if index < *self.len {
            // SAFETY: slots below `len` were written by `push`.
            let event = unsafe { self.slots[index].assume_init_mut() };
            event.readiness |= readiness.bits();
        }
    }

    /// The fd of the event at `index`, if one was pushed there.
    #[allow(dead_code)]
    pub(crate) fn fd_at(&self, index: usize) -> Option<RawFd> {
        if index < *self.len {
            // SAFETY: slots below `len` were written by `push`.
            Some(unsafe { self.slots[index].assume_init_ref() }.fd)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_has_the_c_layout() {
        assert_eq!(std::mem::size_of::<Event>(), 16);
        assert_eq!(std::mem::align_of::<Event>(), 8);
    }

    #[test]
    fn sink_stops_at_capacity_and_merges() {
        let mut events = Events::with_capacity(2);
        {
            let mut sink = events.sink();
            sink.push(Event::new(3, 30, Readiness::READABLE));
            sink.push(Event::new(4, 40, Readiness::WRITABLE));
            assert!(sink.is_full());
            sink.push(Event::new(5, 50, Readiness::READABLE));
            sink.merge(0, Readiness::WRITABLE);
        }
        assert_eq!(events.len(), 2);
        let first = events.as_slice()[0];
        assert_eq!(first.token(), 30);
        assert!(first.is_readable() && first.is_writable());
        assert_eq!(events.as_slice()[1].fd(), 4);
    }

    #[test]
    fn zero_capacity_becomes_one() {
        assert_eq!(Events::with_capacity(0).capacity(), 1);
    }
}
