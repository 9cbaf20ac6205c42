//! After deregister nothing is reported; fds closed while registered.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::*;
use kpoll::{Backend, Events, Interest, Readiness};

#[test]
fn no_event_after_deregister() {
    let _serial = serial();
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        poke(&a);
        assert!(wait_for(poller, 1, COMES).is_some());
        poller.deregister(&b).unwrap();
        assert_eq!(wait_for(poller, 1, QUIET), None);
        assert_eq!(poller.stats().registered, 0);
    });
}

#[test]
fn deregister_of_a_closed_fd_succeeds() {
    let _serial = serial();
    each_backend(|_, poller| {
        let (_a, b) = pair();
        let fd = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        drop(b);
        poller.deregister(fd).unwrap();
        assert_eq!(poller.stats().registered, 0);
    });
}

#[test]
fn closed_while_registered_is_reported_or_forgotten_never_a_crash() {
    let _serial = serial();
    each_backend(|backend, poller| {
        let (_a, b) = pair();
        // Made before the close, so that neither takes the closed number.
        let (c, d) = pair();
        let fd = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        drop(b);
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        let found = wait(poller, &mut events, Duration::from_millis(100));
        match backend {
            // poll and select see the closed fd and say so.
            Backend::Poll | Backend::Select => {
                assert_eq!(found, [(1, Readiness::ERROR)]);
            }
            // The kernel polls drop a closed fd from their set.
            _ => {
                assert!(found.is_empty(), "{found:?}");
                assert!(start.elapsed() >= Duration::from_millis(100));
            }
        }
        // The closed fd does not starve the others.
        poller.register(&d, Interest::READABLE, 2).unwrap();
        poke(&c);
        let mut seen_two = false;
        for _ in 0..3 {
            seen_two |= wait(poller, &mut events, COMES)
                .iter()
                .any(|(t, _)| *t == 2);
        }
        assert!(seen_two);
        poller.deregister(fd).unwrap();
    });
}

#[test]
fn modify_of_a_closed_fd_is_ebadf() {
    let _serial = serial();
    each_backend(|_, poller| {
        let (_a, b) = pair();
        let fd = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        drop(b);
        let err = poller.modify(fd, Interest::READABLE, 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        poller.deregister(fd).unwrap();
    });
}

#[test]
fn a_duplicate_keeps_no_stale_event_alive() {
    let _serial = serial();
    each_backend(|_, poller| {
        let (a, b) = pair();
        // SAFETY: dup returns a new fd that the OwnedFd then owns.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(b.as_raw_fd())) };
        let fd = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        drop(b);
        poller.deregister(fd).unwrap();
        poke(&a);
        // epoll still watches the file through the duplicate; kpoll must
        // not report the registration that was deregistered.
        assert_eq!(wait_for(poller, 1, QUIET), None);
        drop(dup);
    });
}

#[test]
fn a_reused_fd_number_gets_its_own_registration() {
    let _serial = serial();
    each_backend(|_, poller| {
        let (a, b) = pair();
        let fd = raw(&b);
        poller.register(&b, Interest::READABLE, 1).unwrap();
        poke(&a);
        poller.deregister(&b).unwrap();

        // Another socket takes the same number. dup2 onto the number `b`
        // still holds, so that no other thread can take it meanwhile.
        let (c, d) = pair();
        // SAFETY: both fds are open and owned by this test; dup2 closes
        // `b`'s socket and makes `fd` name `d`'s, still owned by `b`.
        assert_eq!(unsafe { libc::dup2(d.as_raw_fd(), fd) }, fd);
        drop(d);
        poller.register(fd, Interest::READABLE, 2).unwrap();
        assert_eq!(wait_for(poller, 2, QUIET), None);
        poke(&c);
        assert!(wait_for(poller, 2, COMES).is_some());
        assert_eq!(wait_for(poller, 1, QUIET), None);
        poller.deregister(fd).unwrap();
        drop(b);
    });
}
