//! A wait allocates nothing in steady state, on every backend.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use kpoll::{Events, Interest};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn waits_allocate_nothing_in_steady_state() {
    each_backend(|backend, poller| {
        let pairs: Vec<_> = (0..32).map(|_| pair()).collect();
        for (i, (a, b)) in pairs.iter().enumerate() {
            poke(a);
            let mode = if i % 2 == 0 {
                Interest::ONESHOT
            } else {
                Interest::empty()
            };
            poller
                .register(b, Interest::READABLE | mode, i as u64)
                .unwrap();
        }
        let mut events = Events::with_capacity(8);
        let rearm = |events: &Events| {
            for event in events {
                if event.token() % 2 == 0 {
                    let (_, b) = &pairs[event.token() as usize];
                    poller
                        .modify(b, Interest::READABLE | Interest::ONESHOT, event.token())
                        .unwrap();
                }
            }
        };
        // Warm up: buffers grow to their steady size.
        for _ in 0..8 {
            poller.wait(&mut events, Some(COMES)).unwrap();
            rearm(&events);
        }
        poller.wake().unwrap();
        poller.wait(&mut events, Some(COMES)).unwrap();

        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut delivered = 0;
        for round in 0..200 {
            if round % 50 == 0 {
                poller.wake().unwrap();
            }
            delivered += poller.wait(&mut events, Some(COMES)).unwrap();
            rearm(&events);
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert!(delivered > 0);
        assert_eq!(
            after - before,
            0,
            "{backend}: {} allocations in 200 waits",
            after - before
        );
    });
}
