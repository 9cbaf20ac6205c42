//! Every fd a poller opens is close-on-exec and closed when it is dropped.
//! One test in its own binary, so that no other test opens fds meanwhile.

mod common;

use common::*;
use kpoll::{Events, Interest, Poller};

fn fds() -> Vec<i32> {
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The listing's own fd is closed by now: F_GETFD drops it.
    // SAFETY: F_GETFD only reads the descriptor's flags.
    listed
        .into_iter()
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
        .collect()
}

#[test]
fn pollers_open_only_close_on_exec_fds_and_leak_none() {
    {
        for backend in backends() {
            let before = fds();
            {
                let poller = Poller::with_backend(backend).unwrap();
                let new: Vec<i32> = fds()
                    .into_iter()
                    .filter(|fd| !before.contains(fd))
                    .collect();
                assert!(!new.is_empty(), "{backend}");
                for fd in &new {
                    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
                    assert!(
                        is_cloexec(*fd),
                        "{backend}: fd {fd} ({link:?}) would be inherited by exec"
                    );
                }
                // The kernel object, if any, and the wake source: an eventfd,
                // or a pipe's two ends with KPOLL_WAKE=pipe.
                let pipe = std::env::var("KPOLL_WAKE").is_ok_and(|v| v == "pipe");
                let wake_fds = if pipe { 2 } else { 1 };
                let kernel_fds = usize::from(poller.as_raw_fd().is_some());
                assert_eq!(new.len(), kernel_fds + wake_fds, "{backend}: {new:?}");
                if let Some(fd) = poller.as_raw_fd() {
                    assert!(new.contains(&fd));
                }

                let (a, b) = pair();
                poller.register(&b, Interest::READABLE, 1).unwrap();
                poke(&a);
                poller.wake().unwrap();
                let mut events = Events::with_capacity(4);
                poller.wait(&mut events, Some(COMES)).unwrap();
            }
            assert_eq!(fds(), before, "{backend}: fds leaked");
        }
    }
}
