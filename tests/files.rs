//! Fds the kernel poll refuses, served as poll(2) would serve them.

mod common;

use std::io::Write;

use common::*;
use kpoll::{Backend, Interest, Readiness};

fn file() -> std::fs::File {
    let path = std::env::temp_dir().join(format!(
        "kpoll-files-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file.write_all(b"data").unwrap();
    file
}

#[test]
fn regular_files_are_always_ready() {
    each_backend(|backend, poller| {
        let file = file();
        poller.register(&file, Interest::BOTH, 1).unwrap();
        let expected = if backend == Backend::Epoll { 1 } else { 0 };
        assert_eq!(poller.stats().fallback, expected);
        for _ in 0..2 {
            let readiness = wait_for(poller, 1, COMES).unwrap();
            assert_eq!(readiness, Readiness::READABLE | Readiness::WRITABLE);
        }
        poller.modify(&file, Interest::WRITABLE, 2).unwrap();
        assert_eq!(wait_for(poller, 2, COMES), Some(Readiness::WRITABLE));
        poller.deregister(&file).unwrap();
        assert_eq!(poller.stats().fallback, 0);
        assert_eq!(wait_for(poller, 2, QUIET), None);
    });
}

#[test]
fn files_and_sockets_are_reported_together() {
    each_backend(|_, poller| {
        let file = file();
        let (a, b) = pair();
        poller.register(&file, Interest::READABLE, 1).unwrap();
        poller.register(&b, Interest::READABLE, 2).unwrap();
        poke(&a);
        let mut events = kpoll::Events::with_capacity(8);
        let mut tokens: Vec<u64> = wait(poller, &mut events, COMES)
            .iter()
            .map(|(t, _)| *t)
            .collect();
        tokens.sort();
        assert_eq!(tokens, [1, 2]);
    });
}

#[test]
fn oneshot_files_report_once() {
    each_backend(|_, poller| {
        let file = file();
        poller
            .register(&file, Interest::READABLE | Interest::ONESHOT, 1)
            .unwrap();
        assert!(wait_for(poller, 1, COMES).is_some());
        assert_eq!(wait_for(poller, 1, QUIET), None);
        poller
            .modify(&file, Interest::READABLE | Interest::ONESHOT, 1)
            .unwrap();
        assert!(wait_for(poller, 1, COMES).is_some());
    });
}

#[test]
fn edge_on_a_file_is_refused() {
    let poller = kpoll::Poller::with_backend(Backend::Epoll).unwrap();
    let file = file();
    let err = poller
        .register(&file, Interest::READABLE | Interest::EDGE, 1)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTSUP));
    poller.register(&file, Interest::READABLE, 1).unwrap();
    let err = poller
        .modify(&file, Interest::READABLE | Interest::EDGE, 1)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTSUP));
}

#[test]
fn a_file_registered_during_a_wait_ends_it() {
    use std::sync::Arc;
    for backend in backends() {
        let poller = Arc::new(kpoll::Poller::with_backend(backend).unwrap());
        let file = Arc::new(file());
        let (p, f) = (Arc::clone(&poller), Arc::clone(&file));
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            p.register(&*f, Interest::READABLE, 7).unwrap();
        });
        let mut events = kpoll::Events::with_capacity(4);
        let n = poller.wait(&mut events, Some(COMES * 2)).unwrap();
        thread.join().unwrap();
        assert_eq!(n, 1, "{backend}");
        assert_eq!(events.iter().next().unwrap().token(), 7);
    }
}
