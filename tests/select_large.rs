//! select works for fds at and above FD_SETSIZE.

mod common;

use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;

use common::*;
use kpoll::{Backend, Interest, Poller, Readiness};

#[test]
fn fds_at_and_above_fd_setsize_work_on_every_backend() {
    let (a, b) = pair();
    for target in [libc::FD_SETSIZE as i32, libc::FD_SETSIZE as i32 + 700] {
        // SAFETY: dup2 onto an unused number; the stream then owns it.
        let high = unsafe { libc::dup2(b.as_raw_fd(), target) };
        assert_eq!(high, target);
        // SAFETY: `high` is a new fd owned by nothing else.
        let high = unsafe { UnixStream::from_raw_fd(high) };
        for backend in [Backend::Select, Backend::Poll, Backend::Epoll] {
            let poller = Poller::with_backend(backend).unwrap();
            poller.register(&high, Interest::BOTH, 3).unwrap();
            let readiness = wait_for(&poller, 3, COMES).unwrap();
            assert!(readiness.contains(Readiness::WRITABLE), "{backend}");
            poke(&a);
            assert!(wait_for(&poller, 3, COMES)
                .unwrap()
                .contains(Readiness::READABLE));
            drain(&high);
        }
    }
}
