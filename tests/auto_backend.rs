//! What `Auto` picks, run by `make test` once per `KPOLL_BACKEND` value.

mod common;

use common::*;
use kpoll::{Backend, Interest, Poller};

#[test]
fn auto_follows_kpoll_backend_and_works() {
    let poller = Poller::new().unwrap();
    let expected = match std::env::var("KPOLL_BACKEND") {
        Ok(name) => Backend::from_name(&name).expect("a known backend name"),
        Err(_) => Backend::supported()[0],
    };
    assert_eq!(poller.backend(), expected);

    let (a, b) = pair();
    poller
        .register(&b, Interest::READABLE | Interest::ONESHOT, 1)
        .unwrap();
    poke(&a);
    assert!(wait_for(&poller, 1, COMES).is_some());
    assert_eq!(wait_for(&poller, 1, QUIET), None);
    poller.modify(&b, Interest::READABLE, 2).unwrap();
    assert!(wait_for(&poller, 2, COMES).is_some());
}
