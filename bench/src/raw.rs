//! The raw-syscall floors on the Rust side: epoll_wait and epoll_ctl with
//! nothing around them, and an eventfd wake loop.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::chain::EventLoop;
use crate::loops::CAPACITY;

/// Turns a -1 from a syscall into the errno it left.
fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A bare epoll instance.
pub struct RawEpoll {
    epfd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl RawEpoll {
    /// A new epoll instance.
    pub fn new() -> io::Result<RawEpoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(RawEpoll {
            // SAFETY: the fd was just created and is owned by no one else.
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; CAPACITY],
        })
    }

    /// `epoll_ctl(ADD)` for reading, with `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: valid epoll fd and event struct for the call.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })
            .map(drop)
    }

    /// `epoll_wait` into the buffer; returns the ready count.
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        let cap = self.events.len() as i32;
        // SAFETY: the buffer has room for `cap` events.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap,
                timeout_ms,
            )
        };
        cvt(n).map(|n| n as usize)
    }
}

impl EventLoop for RawEpoll {
    fn register_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        fds.iter()
            .enumerate()
            .try_for_each(|(i, &fd)| self.add(fd, i as u64))
    }

    fn deregister_all(&mut self, fds: &[RawFd]) -> io::Result<()> {
        fds.iter().try_for_each(|&fd| {
            let epfd = self.epfd.as_raw_fd();
            // SAFETY: a NULL event is allowed for EPOLL_CTL_DEL.
            cvt(unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) })
                .map(drop)
        })
    }

    fn wait_dispatch<F: FnMut(usize)>(&mut self, mut on_ready: F) -> io::Result<usize> {
        let n = self.wait(-1)?;
        for ev in &self.events[..n] {
            on_ready(ev.u64 as usize);
        }
        Ok(n)
    }
}

/// An eventfd watched by a [`RawEpoll`]: the floor of a wake.
pub struct RawWake {
    epoll: RawEpoll,
    efd: OwnedFd,
}

impl RawWake {
    /// An eventfd registered on a new epoll instance.
    pub fn new() -> io::Result<RawWake> {
        let epoll = RawEpoll::new()?;
        // SAFETY: eventfd takes no pointers.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: the fd was just created and is owned by no one else.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        epoll.add(efd.as_raw_fd(), 0)?;
        Ok(RawWake { epoll, efd })
    }

    /// The waker's half: a handle that can write the eventfd.
    pub fn waker(&self) -> RawFd {
        self.efd.as_raw_fd()
    }

    /// Blocks until the eventfd is written, then resets it.
    pub fn wait(&mut self) -> io::Result<()> {
        self.epoll.wait(-1)?;
        let mut count = 0u64;
        // SAFETY: eight writable bytes, as an eventfd read needs.
        unsafe { libc::read(self.efd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        Ok(())
    }
}

/// Writes 1 to the eventfd `efd`.
pub fn raw_wake(efd: RawFd) -> io::Result<()> {
    let one = 1u64;
    // SAFETY: eight readable bytes, as an eventfd write needs.
    let n = unsafe { libc::write(efd, (&one as *const u64).cast(), 8) };
    if n == 8 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
