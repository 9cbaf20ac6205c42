//! The choice of backend, and the descriptors a poller opens.

mod common;

use std::process::Command;

use common::*;
use kpoll::{Backend, Events, Interest, Poller};

#[test]
fn auto_is_the_kernel_poll_of_this_os() {
    let supported = Backend::supported();
    assert_eq!(
        &supported[supported.len() - 2..],
        [Backend::Poll, Backend::Select]
    );
    if cfg!(target_os = "linux") {
        assert_eq!(supported[0], Backend::Epoll);
        for absent in [Backend::Kqueue, Backend::Devpoll] {
            assert!(!absent.is_supported());
            let err = Poller::with_backend(absent).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTSUP));
        }
    }
    if std::env::var_os("KPOLL_BACKEND").is_none() {
        assert_eq!(Poller::new().unwrap().backend(), supported[0]);
    }
}

/// Runs the test `name` of this binary in a child with `KPOLL_BACKEND` set.
fn child(name: &str, backend: &str) -> bool {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KPOLL_BACKEND", backend)
        .env("KPOLL_EXPECT", backend)
        .status()
        .unwrap();
    status.success()
}

#[test]
#[ignore = "run by kpoll_backend_overrides_auto in a child process"]
fn child_checks_kpoll_backend() {
    let expect = std::env::var("KPOLL_EXPECT").unwrap();
    match expect.as_str() {
        "bogus" => {
            let err = Poller::new().unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
            // A named backend is still available.
            Poller::with_backend(Backend::Poll).unwrap();
        }
        "kqueue" | "devpoll" if cfg!(target_os = "linux") => {
            assert_eq!(
                Poller::new().unwrap_err().raw_os_error(),
                Some(libc::ENOTSUP)
            );
        }
        name => {
            let poller = Poller::new().unwrap();
            assert_eq!(poller.backend().name(), name);
        }
    }
}

#[test]
fn kpoll_backend_overrides_auto() {
    for name in ["epoll", "poll", "select", "bogus", "kqueue", "devpoll"] {
        assert!(
            child("child_checks_kpoll_backend", name),
            "KPOLL_BACKEND={name}"
        );
    }
}

#[test]
fn a_child_after_fork_cannot_touch_its_parents_poller() {
    for backend in backends() {
        let poller = Poller::with_backend(backend).unwrap();
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();

        // SAFETY: the child only calls kpoll methods that touch atomics and
        // return an error, then _exit; no allocation, no lock.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let refused = |r: std::io::Result<()>| {
                r.err().and_then(|e| e.raw_os_error()) == Some(libc::EPERM)
            };
            let mut ok = refused(poller.deregister(&b));
            ok &= refused(poller.modify(&b, Interest::empty(), 0));
            ok &= refused(poller.register(&a, Interest::READABLE, 2));
            ok &= refused(poller.wake());
            // A poller of its own works.
            // SAFETY: _exit ends the child without running the parent's
            // destructors or atexit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{backend}: child status {status}"
        );

        // The parent's poller is whole.
        poke(&a);
        assert!(wait_for(&poller, 1, COMES).is_some(), "{backend}");
        let mut events = Events::with_capacity(1);
        poller.wait(&mut events, Some(QUIET)).unwrap();
    }
}
