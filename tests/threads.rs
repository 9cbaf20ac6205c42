//! Changes made from other threads take effect in the wait in progress.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use kpoll::{Events, Interest, Poller};

/// Runs `change` on another thread once `poller` is (very likely) blocked in
/// an endless wait, and returns what that wait reported.
fn during_wait(poller: &Arc<Poller>, change: impl FnOnce(&Poller) + Send + 'static) -> Vec<u64> {
    let other = Arc::clone(poller);
    let thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        change(&other);
    });
    let mut events = Events::with_capacity(8);
    // A watchdog, so that a lost change fails the test instead of hanging it.
    let watchdog = Arc::clone(poller);
    let done = Arc::new(AtomicBool::new(false));
    let done_seen = Arc::clone(&done);
    let dog = thread::spawn(move || {
        let end = Instant::now() + COMES * 2;
        while Instant::now() < end && !done_seen.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
        watchdog.wake().unwrap();
    });
    poller.wait(&mut events, None).unwrap();
    done.store(true, Ordering::SeqCst);
    thread.join().unwrap();
    dog.join().unwrap();
    events.iter().map(|e| e.token()).collect()
}

#[test]
fn register_during_a_wait_takes_effect_in_it() {
    for backend in backends() {
        let poller = Arc::new(Poller::with_backend(backend).unwrap());
        let (a, b) = pair();
        poke(&a);
        let b = Arc::new(b);
        let inner = Arc::clone(&b);
        let got = during_wait(&poller, move |p| {
            p.register(&*inner, Interest::READABLE, 9).unwrap()
        });
        assert_eq!(got, [9], "{backend}");
    }
}

#[test]
fn modify_during_a_wait_rearms_in_it() {
    for backend in backends() {
        let poller = Arc::new(Poller::with_backend(backend).unwrap());
        let (a, b) = pair();
        poke(&a);
        poller.register(&b, Interest::empty(), 1).unwrap();
        let fd = raw(&b);
        let got = during_wait(&poller, move |p| {
            p.modify(fd, Interest::READABLE | Interest::ONESHOT, 5)
                .unwrap()
        });
        assert_eq!(got, [5], "{backend}");
        drop(b);
    }
}

#[test]
fn deregister_during_a_wait_is_not_reported_after() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        thread::scope(|scope| {
            scope.spawn(|| poller.deregister(&b).unwrap());
        });
        poke(&a);
        assert_eq!(wait_for(poller, 1, QUIET), None);
    });
}

#[test]
fn two_threads_modify_while_a_third_waits() {
    const PAIRS: usize = 64;
    const ROUNDS: u64 = 2_000;

    for backend in backends() {
        let poller = Arc::new(Poller::with_backend(backend).unwrap());
        let pairs: Arc<Vec<_>> = Arc::new((0..PAIRS).map(|_| pair()).collect());
        for (i, (a, b)) in pairs.iter().enumerate() {
            poke(a);
            poller
                .register(b, Interest::READABLE | Interest::ONESHOT, i as u64)
                .unwrap();
        }

        let stop = Arc::new(AtomicBool::new(false));
        let rearms = Arc::new(AtomicU64::new(0));
        let modifiers: Vec<_> = (0..2)
            .map(|half| {
                let (poller, pairs, stop, rearms) = (
                    Arc::clone(&poller),
                    Arc::clone(&pairs),
                    Arc::clone(&stop),
                    Arc::clone(&rearms),
                );
                thread::spawn(move || {
                    let mut i = half;
                    while !stop.load(Ordering::SeqCst) {
                        let (_, b) = &pairs[i % PAIRS];
                        poller
                            .modify(
                                b,
                                Interest::READABLE | Interest::ONESHOT,
                                (i % PAIRS) as u64,
                            )
                            .unwrap();
                        rearms.fetch_add(1, Ordering::Relaxed);
                        i += 2;
                    }
                })
            })
            .collect();

        let mut events = Events::with_capacity(16);
        let mut seen = 0u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen < ROUNDS && Instant::now() < deadline {
            poller.wait(&mut events, Some(COMES)).unwrap();
            for event in &events {
                assert!((event.token() as usize) < PAIRS, "{backend}: foreign token");
                assert!(event.is_readable());
            }
            seen += events.len() as u64;
        }
        stop.store(true, Ordering::SeqCst);
        for modifier in modifiers {
            modifier.join().unwrap();
        }
        assert!(seen >= ROUNDS, "{backend}: only {seen} events in 30 s");
        assert!(rearms.load(Ordering::Relaxed) > 0);
    }
}
