//! The Rust event loops under test: kpoll on each backend, mio and polling.

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{BorrowedFd, RawFd};

use crate::chain::EventLoop;

/// Events fetched per wait, the same for every loop (and the C ones).
pub const CAPACITY: usize = 1024;

/// kpoll through its Rust API.
pub struct KpollLoop {
    /// The poller.
    pub poller: kpoll::Poller,
    events: kpoll::Events,
}

impl KpollLoop {
    /// A poller on `backend`.
    pub fn new(backend: kpoll::Backend) -> io::Result<KpollLoop> {
        Ok(KpollLoop {
            poller: kpoll::Poller::with_backend(backend)?,
            events: kpoll::Events::with_capacity(CAPACITY),
        })
    }
}

impl EventLoop for KpollLoop {
    fn register_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        for (i, &fd) in fds.iter().enumerate() {
            self.poller
                .register(fd, kpoll::Interest::READABLE, i as u64)?;
        }
        Ok(())
    }

    fn deregister_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        fds.iter().try_for_each(|&fd| self.poller.deregister(fd))
    }

    fn wait_dispatch<F: FnMut(usize)>(&mut self, mut on_ready: F) -> io::Result<usize> {
        let n = self.poller.wait(&mut self.events, None)?;
        for event in self.events.iter() {
            on_ready(event.token() as usize);
        }
        Ok(n)
    }
}

/// mio, which is edge-triggered on epoll (it has no level mode).
pub struct MioLoop {
    poll: mio::Poll,
    events: mio::Events,
}

impl MioLoop {
    /// A mio poll.
    pub fn new() -> io::Result<MioLoop> {
        Ok(MioLoop {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(CAPACITY),
        })
    }
}

impl EventLoop for MioLoop {
    fn register_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        let registry = self.poll.registry();
        for (i, fd) in fds.iter().enumerate() {
            let mut source = mio::unix::SourceFd(fd);
            registry.register(&mut source, mio::Token(i), mio::Interest::READABLE)?;
        }
        Ok(())
    }

    fn deregister_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        let registry = self.poll.registry();
        fds.iter()
            .try_for_each(|fd| registry.deregister(&mut mio::unix::SourceFd(fd)))
    }

    fn wait_dispatch<F: FnMut(usize)>(&mut self, mut on_ready: F) -> io::Result<usize> {
        self.poll.poll(&mut self.events, None)?;
        let mut n = 0;
        for event in self.events.iter() {
            on_ready(event.token().0);
            n += 1;
        }
        Ok(n)
    }
}

/// The polling crate, level-triggered like kpoll's default.
pub struct PollingLoop {
    poller: polling::Poller,
    events: polling::Events,
}

impl PollingLoop {
    /// A polling poller.
    pub fn new() -> io::Result<PollingLoop> {
        let capacity = NonZeroUsize::new(CAPACITY).expect("CAPACITY is not zero");
        Ok(PollingLoop {
            poller: polling::Poller::new()?,
            events: polling::Events::with_capacity(capacity),
        })
    }
}

impl EventLoop for PollingLoop {
    fn register_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        for (i, &fd) in fds.iter().enumerate() {
            let interest = polling::Event::readable(i);
            // SAFETY: every fd is deregistered (or the poller dropped)
            // before the connections that own it are closed.
            unsafe {
                self.poller
                    .add_with_mode(fd, interest, polling::PollMode::Level)?
            };
        }
        Ok(())
    }

    fn deregister_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        fds.iter().try_for_each(|&fd| {
            // SAFETY: the fd is open: the connections outlive this loop.
            self.poller.delete(unsafe { BorrowedFd::borrow_raw(fd) })
        })
    }

    fn wait_dispatch<F: FnMut(usize)>(&mut self, mut on_ready: F) -> io::Result<usize> {
        self.events.clear();
        let n = self.poller.wait(&mut self.events, None)?;
        for event in self.events.iter() {
            on_ready(event.key);
        }
        Ok(n)
    }
}
