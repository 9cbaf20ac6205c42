//! Level, oneshot and edge modes.

mod common;

use common::*;
use kpoll::{Backend, Interest, Readiness};

#[test]
fn level_reports_on_every_wait_while_the_condition_holds() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        assert_eq!(wait_for(poller, 1, QUIET), None);
        poke(&a);
        for _ in 0..3 {
            assert!(wait_for(poller, 1, COMES)
                .unwrap()
                .contains(Readiness::READABLE));
        }
        drain(&b);
        assert_eq!(wait_for(poller, 1, QUIET), None);
    });
}

#[test]
fn oneshot_reports_once_then_stays_registered_and_disarmed() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller
            .register(&b, Interest::READABLE | Interest::ONESHOT, 1)
            .unwrap();
        poke(&a);
        assert!(wait_for(poller, 1, COMES).is_some());
        assert_eq!(wait_for(poller, 1, QUIET), None, "a oneshot reported twice");
        poke(&a);
        assert_eq!(wait_for(poller, 1, QUIET), None);

        let err = poller.register(&b, Interest::READABLE, 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));

        poller
            .modify(&b, Interest::READABLE | Interest::ONESHOT, 2)
            .unwrap();
        assert!(wait_for(poller, 2, COMES).is_some());
        assert_eq!(wait_for(poller, 2, QUIET), None);
    });
}

#[test]
fn oneshot_with_both_conditions_reports_once() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poke(&a);
        poller
            .register(&b, Interest::BOTH | Interest::ONESHOT, 1)
            .unwrap();
        let readiness = wait_for(poller, 1, COMES).unwrap();
        assert!(readiness.contains(Readiness::WRITABLE));
        assert_eq!(wait_for(poller, 1, QUIET), None);
    });
}

#[test]
fn edge_reports_when_the_condition_becomes_true() {
    each_backend(|backend, poller| {
        let (a, b) = pair();
        let edge = Interest::READABLE | Interest::EDGE;
        if backend != Backend::Epoll && backend != Backend::Kqueue {
            let err = poller.register(&b, edge, 1).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTSUP));
            poller.register(&b, Interest::READABLE, 1).unwrap();
            let err = poller.modify(&b, edge, 1).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTSUP));
            return;
        }
        poller.register(&b, edge, 1).unwrap();
        poke(&a);
        assert!(wait_for(poller, 1, COMES).is_some());
        // Still readable, but no new edge.
        assert_eq!(wait_for(poller, 1, QUIET), None);
        poke(&a);
        assert!(wait_for(poller, 1, COMES).is_some());
    });
}

#[test]
fn hangup_and_error_are_reported_asked_or_not() {
    each_backend(|backend, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        drop(a);
        let readiness = wait_for(poller, 1, COMES).expect("an event for the hung-up fd");
        if backend == Backend::Select {
            // select cannot see a hangup: the fd reads as readable (EOF).
            assert_eq!(readiness, Readiness::READABLE);
        } else {
            assert!(readiness.contains(Readiness::HANGUP), "{readiness:?}");
        }
    });
}

#[test]
fn hangup_is_reported_with_only_write_interest() {
    each_backend(|backend, poller| {
        if backend == Backend::Select {
            return;
        }
        let (a, b) = pair();
        poller.register(&b, Interest::WRITABLE, 1).unwrap();
        drop(a);
        let readiness = wait_for(poller, 1, COMES).unwrap();
        assert!(readiness.contains(Readiness::HANGUP), "{readiness:?}");
        assert!(
            !readiness.contains(Readiness::READABLE),
            "not asked: {readiness:?}"
        );
    });
}

#[test]
fn refused_connection_reports_error() {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::FromRawFd;

    each_backend(|backend, poller| {
        // A port that refuses: bound, then closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // SAFETY: socket(2) returns a new fd that the TcpStream then owns.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: a live sockaddr_in of the length given.
        unsafe {
            libc::connect(
                fd,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        poller.register(&stream, Interest::WRITABLE, 1).unwrap();
        let readiness = wait_for(poller, 1, COMES).unwrap();
        if backend == Backend::Select {
            assert!(readiness.contains(Readiness::WRITABLE), "{readiness:?}");
        } else {
            assert!(readiness.contains(Readiness::ERROR), "{readiness:?}");
        }
        assert!(stream.take_error().unwrap().is_some());
    });
}

#[test]
fn one_event_per_fd_with_bits_merged() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poke(&a);
        poller.register(&b, Interest::BOTH, 1).unwrap();
        let mut events = kpoll::Events::with_capacity(8);
        let found = wait(poller, &mut events, COMES);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Readiness::READABLE | Readiness::WRITABLE);
    });
}

#[test]
fn priority_reports_urgent_data() {
    use std::net::{TcpListener, TcpStream};

    each_backend(|backend, poller| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        if backend == Backend::Kqueue {
            let err = poller.register(&server, Interest::PRIORITY, 1).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTSUP));
            return;
        }
        poller.register(&server, Interest::PRIORITY, 1).unwrap();
        assert_eq!(wait_for(poller, 1, QUIET), None);
        // SAFETY: sends one byte from a live buffer.
        let sent = unsafe { libc::send(raw(&client), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(sent, 1);
        let readiness = wait_for(poller, 1, COMES).unwrap();
        assert!(readiness.contains(Readiness::PRIORITY), "{readiness:?}");
    });
}
