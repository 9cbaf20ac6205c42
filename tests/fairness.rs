//! When more fds are ready than fit, the others come in the next waits.

mod common;

use std::collections::HashSet;

use common::*;
use kpoll::{Events, Interest};

#[test]
fn every_ready_fd_is_reported_within_ceil_r_over_c_waits() {
    const READY: usize = 10;
    for capacity in [1usize, 3, 4] {
        each_backend(|_, poller| {
            let pairs: Vec<_> = (0..READY).map(|_| pair()).collect();
            for (i, (a, b)) in pairs.iter().enumerate() {
                poke(a);
                poller.register(b, Interest::READABLE, i as u64).unwrap();
            }
            let waits = READY.div_ceil(capacity);
            let mut events = Events::with_capacity(capacity);
            // Measured over several windows: any ceil(R/C) consecutive
            // waits see every fd.
            for window in 0..3 {
                let mut seen = HashSet::new();
                for _ in 0..waits {
                    for (token, _) in wait(poller, &mut events, COMES) {
                        seen.insert(token);
                    }
                }
                assert_eq!(
                    seen.len(),
                    READY,
                    "capacity {capacity}, window {window}: saw {seen:?}"
                );
            }
        });
    }
}

#[test]
fn oneshot_fds_beyond_capacity_are_not_lost() {
    const READY: usize = 25;
    each_backend(|_, poller| {
        let pairs: Vec<_> = (0..READY).map(|_| pair()).collect();
        for (i, (a, b)) in pairs.iter().enumerate() {
            poke(a);
            poller
                .register(b, Interest::READABLE | Interest::ONESHOT, i as u64)
                .unwrap();
        }
        let mut events = Events::with_capacity(4);
        let mut seen = Vec::new();
        for _ in 0..READY.div_ceil(4) {
            seen.extend(wait(poller, &mut events, COMES).into_iter().map(|(t, _)| t));
        }
        seen.sort();
        assert_eq!(seen, (0..READY as u64).collect::<Vec<_>>());
        assert!(wait(poller, &mut events, QUIET).is_empty());
    });
}
