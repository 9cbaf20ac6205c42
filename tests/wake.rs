//! Wakes, signals and timeouts.

mod common;

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use kpoll::{Events, Interest, Poller};

#[test]
fn wake_ends_an_endless_wait_from_another_thread() {
    for backend in backends() {
        let poller = Arc::new(Poller::with_backend(backend).unwrap());
        let waker = Arc::clone(&poller);
        let thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            waker.wake().unwrap();
        });
        let mut events = Events::with_capacity(4);
        assert_eq!(
            poller.wait(&mut events, None).unwrap(),
            0,
            "{backend}: a wake is no event"
        );
        thread.join().unwrap();
        assert_eq!(poller.stats().wakes, 1, "{backend}");
    }
}

#[test]
fn wakes_before_a_wait_collapse_into_one() {
    each_backend(|_, poller| {
        for _ in 0..5 {
            poller.wake().unwrap();
        }
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        assert_eq!(poller.wait(&mut events, Some(COMES)).unwrap(), 0);
        assert!(
            start.elapsed() < COMES,
            "the pending wake did not end the wait"
        );
        // The wakes were one: the next wait runs to its timeout.
        let start = Instant::now();
        assert_eq!(poller.wait(&mut events, Some(QUIET)).unwrap(), 0);
        assert!(start.elapsed() >= QUIET);
        assert_eq!(poller.stats().wakes, 1);
    });
}

#[test]
fn wake_with_events_ready_returns_the_events() {
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        poke(&a);
        poller.wake().unwrap();
        let mut events = Events::with_capacity(4);
        let found = wait(poller, &mut events, COMES);
        // Whether the wake and the event come together or one after the
        // other, the event is reported and never a wake as an event.
        let found = if found.is_empty() {
            wait(poller, &mut events, COMES)
        } else {
            found
        };
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 1);
    });
}

#[test]
fn zero_timeout_never_blocks_and_positive_waits_at_least_that() {
    each_backend(|_, poller| {
        let (_a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        let mut events = Events::with_capacity(4);

        let start = Instant::now();
        assert_eq!(poller.wait(&mut events, Some(Duration::ZERO)).unwrap(), 0);
        assert!(start.elapsed() < Duration::from_secs(1));

        for ms in [1u64, 10, 120] {
            let start = Instant::now();
            assert_eq!(
                poller
                    .wait(&mut events, Some(Duration::from_millis(ms)))
                    .unwrap(),
                0
            );
            assert!(
                start.elapsed() >= Duration::from_millis(ms),
                "returned before {ms} ms"
            );
        }

        // Sub-millisecond timeouts are rounded up, not down to zero.
        let start = Instant::now();
        poller
            .wait(&mut events, Some(Duration::from_micros(300)))
            .unwrap();
        assert!(start.elapsed() >= Duration::from_micros(300));
    });
}

#[test]
fn huge_timeouts_do_not_overflow() {
    each_backend(|_, poller| {
        poller.wake().unwrap();
        let mut events = Events::with_capacity(1);
        assert_eq!(poller.wait(&mut events, Some(Duration::MAX)).unwrap(), 0);
    });
}

#[test]
fn a_second_waiter_gets_ebusy() {
    for backend in backends() {
        let poller = Arc::new(Poller::with_backend(backend).unwrap());
        let inside = Arc::clone(&poller);
        let thread = thread::spawn(move || {
            let mut events = Events::with_capacity(1);
            inside.wait(&mut events, None).unwrap()
        });

        // Until the first thread is inside, this may win the race; then it
        // waits for nothing (the test wakes it afterwards).
        let mut events = Events::with_capacity(1);
        let deadline = Instant::now() + COMES;
        let mut busy = false;
        while Instant::now() < deadline {
            match poller.wait(&mut events, Some(Duration::ZERO)) {
                Err(err) => {
                    assert_eq!(err.raw_os_error(), Some(libc::EBUSY), "{backend}");
                    busy = true;
                    break;
                }
                Ok(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
        assert!(busy, "{backend}: the second waiter was never refused");
        poller.wake().unwrap();
        assert_eq!(thread.join().unwrap(), 0);
    }
}

static SIGNAL_TARGET: AtomicPtr<Poller> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn wake_from_handler(_: libc::c_int) {
    let poller = SIGNAL_TARGET.load(Ordering::SeqCst);
    if !poller.is_null() {
        // SAFETY: the test keeps the poller alive while the handler may run.
        let _ = unsafe { &*poller }.wake();
    }
}

extern "C" fn ignore(_: libc::c_int) {}

/// Installs `handler` for `signal`, without SA_RESTART, so that a blocking
/// call is interrupted with EINTR.
fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction with a plain handler and an empty mask is
    // valid; the handlers only touch atomics and call wake.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        assert_eq!(libc::sigaction(signal, &action, std::ptr::null_mut()), 0);
    }
}

fn storm(
    target: libc::pthread_t,
    signal: libc::c_int,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<u64> {
    let target = target as usize;
    thread::spawn(move || {
        let mut sent = 0;
        while !stop.load(Ordering::SeqCst) {
            // SAFETY: the target thread lives until `stop` is set and this
            // thread is joined.
            unsafe { libc::pthread_kill(target as libc::pthread_t, signal) };
            sent += 1;
            thread::sleep(Duration::from_micros(200));
        }
        sent
    })
}

#[test]
fn signal_storms_during_a_wait_are_retried_with_the_time_left() {
    install(libc::SIGUSR2, ignore);
    each_backend(|_, poller| {
        let (a, b) = pair();
        poller.register(&b, Interest::READABLE, 1).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let sender = storm(me, libc::SIGUSR2, Arc::clone(&stop));

        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        let n = poller
            .wait(&mut events, Some(Duration::from_millis(300)))
            .expect("EINTR leaked");
        assert_eq!(n, 0);
        assert!(start.elapsed() >= Duration::from_millis(300));

        // And an event that comes during the storm is reported.
        poke(&a);
        assert!(wait_for(poller, 1, COMES).is_some());

        stop.store(true, Ordering::SeqCst);
        assert!(
            sender.join().unwrap() > 10,
            "the storm sent too few signals to mean anything"
        );
    });
}

#[test]
fn wake_is_async_signal_safe() {
    install(libc::SIGUSR1, wake_from_handler);
    for backend in backends() {
        let poller = Box::new(Poller::with_backend(backend).unwrap());
        SIGNAL_TARGET.store(&*poller as *const Poller as *mut Poller, Ordering::SeqCst);
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as usize;
        let sender = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            // SAFETY: the waiting thread outlives this one (it joins it).
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
        });
        let mut events = Events::with_capacity(1);
        assert_eq!(poller.wait(&mut events, Some(COMES * 2)).unwrap(), 0);
        assert_eq!(
            poller.stats().wakes,
            1,
            "{backend}: the handler's wake was not the one"
        );
        sender.join().unwrap();
        SIGNAL_TARGET.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}
