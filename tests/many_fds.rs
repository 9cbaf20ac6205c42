//! Many fds: about 9,900 socket pairs (19,800 fds of the 20,000 a process may
//! hold here), registered on each backend in turn.

mod common;

use std::collections::HashSet;
use std::os::unix::net::UnixStream;

use common::*;
use kpoll::{Events, Interest, Poller};

const PAIRS: usize = 9_900;

fn limit() -> usize {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a live rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit) };
    rlimit.rlim_cur as usize
}

#[test]
fn thousands_of_pairs_with_a_hundred_active() {
    // Leave room for the pollers, the harness and the standard fds.
    let pairs_fit = (limit().saturating_sub(64) / 2).min(PAIRS);
    assert!(pairs_fit >= 1_000, "RLIMIT_NOFILE is too low for this test");
    let pairs: Vec<(UnixStream, UnixStream)> = (0..pairs_fit).map(|_| pair()).collect();

    for backend in backends() {
        let poller = Poller::with_backend(backend).unwrap();
        for (i, (_, b)) in pairs.iter().enumerate() {
            poller.register(b, Interest::READABLE, i as u64).unwrap();
        }
        assert_eq!(poller.stats().registered, pairs_fit as u64);

        // A hundred spread over the range, the highest fds included.
        let active: HashSet<u64> = (0..100)
            .map(|k| (k * (pairs_fit - 1) / 99) as u64)
            .collect();
        for &i in &active {
            poke(&pairs[i as usize].0);
        }

        let mut events = Events::with_capacity(64);
        let mut seen = HashSet::new();
        for _ in 0..active.len().div_ceil(64) + 1 {
            for event in wait(&poller, &mut events, COMES) {
                assert!(
                    active.contains(&event.0),
                    "{backend}: idle fd {} reported",
                    event.0
                );
                seen.insert(event.0);
            }
        }
        assert_eq!(seen, active, "{backend}");

        for &i in &active {
            drain(&pairs[i as usize].1);
        }
        for (i, (_, b)) in pairs.iter().enumerate() {
            if i % 2 == 0 {
                poller.deregister(b).unwrap();
            }
        }
        assert_eq!(poller.stats().registered, (pairs_fit / 2) as u64);
        assert!(wait(&poller, &mut events, QUIET).is_empty(), "{backend}");
    }
}
