//! One registration per fd per poller, and the errors of bad requests.

mod common;

use common::*;
use kpoll::{Events, Interest, Poller};

fn open_limit() -> i32 {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a live rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit) };
    rlimit.rlim_cur.min(1 << 20) as i32
}

fn code(err: std::io::Error) -> i32 {
    err.raw_os_error().expect("errno")
}

#[test]
fn second_register_is_eexist() {
    each_backend(|_, poller| {
        let (_a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        let err = poller.register(&b, Interest::WRITABLE, 2).unwrap_err();
        assert_eq!(code(err), libc::EEXIST);
        assert_eq!(poller.stats().registered, 1);
    });
}

#[test]
fn unknown_fd_is_enoent() {
    each_backend(|_, poller| {
        let (_a, b) = pair();
        assert_eq!(
            code(poller.modify(&b, Interest::READABLE, 1).unwrap_err()),
            libc::ENOENT
        );
        assert_eq!(code(poller.deregister(&b).unwrap_err()), libc::ENOENT);
    });
}

#[test]
fn bad_fds_are_ebadf() {
    each_backend(|_, poller| {
        assert_eq!(
            code(poller.register(-1, Interest::READABLE, 1).unwrap_err()),
            libc::EBADF
        );
        assert_eq!(
            code(poller.modify(-5, Interest::READABLE, 1).unwrap_err()),
            libc::EBADF
        );
        assert_eq!(code(poller.deregister(-1).unwrap_err()), libc::EBADF);

        // An fd number that is not open: the highest this process may have,
        // which no other test of this binary comes near.
        let unopened = open_limit() - 1;
        // SAFETY: F_GETFD only reads the descriptor's flags.
        assert!(unsafe { libc::fcntl(unopened, libc::F_GETFD) } < 0);
        let err = poller
            .register(unopened, Interest::READABLE, 1)
            .unwrap_err();
        assert_eq!(code(err), libc::EBADF);
        assert_eq!(poller.stats().registered, 0);
    });
}

#[test]
fn deregistered_fd_can_be_registered_again() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        poller.deregister(&b).unwrap();
        poller.register(&b, Interest::READABLE, 2).unwrap();
        poke(&a);
        assert!(wait_for(poller, 2, COMES).is_some());
    });
}

#[test]
fn empty_interest_registers_disarmed_until_modified() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::empty(), 1).unwrap();
        poke(&a);
        assert_eq!(wait_for(poller, 1, QUIET), None);

        // Not even a hangup is reported for a disarmed registration.
        drop(a);
        assert_eq!(wait_for(poller, 1, QUIET), None);
        assert_eq!(poller.stats().registered, 1);

        poller.modify(&b, Interest::READABLE, 3).unwrap();
        assert!(wait_for(poller, 3, COMES).is_some());
    });
}

#[test]
fn wait_counts_and_tokens_are_reported() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, u64::MAX).unwrap();
        poke(&a);
        let mut events = Events::with_capacity(4);
        assert_eq!(poller.wait(&mut events, Some(COMES)).unwrap(), 1);
        let event = events.iter().next().unwrap();
        assert_eq!(event.token(), u64::MAX);
        assert_eq!(event.fd(), raw(&b));
        let stats = poller.stats();
        assert_eq!((stats.waits, stats.events, stats.registered), (1, 1, 1));
    });
}

#[test]
fn modify_replaces_interest_and_token() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::WRITABLE, 1).unwrap();
        assert!(wait_for(poller, 1, COMES)
            .unwrap()
            .contains(kpoll::Readiness::WRITABLE));
        poller.modify(&b, Interest::READABLE, 2).unwrap();
        assert_eq!(wait_for(poller, 2, QUIET), None);
        poke(&a);
        let readiness = wait_for(poller, 2, COMES).unwrap();
        assert!(readiness.contains(kpoll::Readiness::READABLE));
        assert!(!readiness.contains(kpoll::Readiness::WRITABLE));
    });
}

#[test]
fn pollers_are_independent() {
    let (a, b) = pair();
    let first = Poller::new().unwrap();
    let second = Poller::with_backend(kpoll::Backend::Poll).unwrap();
    first.register(&b, Interest::READABLE, 1).unwrap();
    second.register(&b, Interest::READABLE, 2).unwrap();
    poke(&a);
    assert!(wait_for(&first, 1, COMES).is_some());
    assert!(wait_for(&second, 2, COMES).is_some());
}
