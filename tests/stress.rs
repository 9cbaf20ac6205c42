//! Stress: the fd table full of registered eventfds, a million oneshot events
//! through a re-arm loop, and registrations changed from two threads while a
//! third waits.
//!
//! `KPOLL_STRESS_EVENTS` sets the oneshot loop's events per backend (50,000
//! by default, 1,000,000 in `make test-reliability`), `KPOLL_STRESS_SECONDS`
//! the seconds per backend of the threaded test (1 by default, 4 in
//! `make test-reliability`, 60 in the long run of RELIABILITY.md).

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use kpoll::{Events, Interest, Readiness};

/// The fd-limit test needs the whole table.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn eventfd() -> OwnedFd {
    // SAFETY: eventfd takes no pointers and returns a new fd.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0, "eventfd: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just opened and is owned by nothing else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn signal(fd: RawFd) {
    // SAFETY: writes 8 bytes from a live u64 to an eventfd.
    assert_eq!(
        unsafe { libc::write(fd, (&1u64 as *const u64).cast(), 8) },
        8
    );
}

/// The soft fd limit of this process.
fn fd_limit() -> usize {
    // SAFETY: getrlimit fills the struct it is given.
    let limit = unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur
    };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

#[test]
fn every_registered_eventfd_up_to_the_fd_limit_is_reported_once_per_wait() {
    let _guard = serial();
    // Up to 19,900, leaving 100 fds of margin under the limit for the
    // pollers' own fds and the rest of the process.
    let count = 19_900.min(fd_limit().saturating_sub(open_fds() + 100));
    assert!(count >= 1_000, "fd limit too low: {}", fd_limit());
    let fds: Vec<OwnedFd> = (0..count).map(|_| eventfd()).collect();
    let start = Instant::now();

    each_backend(|backend, poller| {
        for (i, fd) in fds.iter().enumerate() {
            poller.register(fd, Interest::READABLE, i as u64).unwrap();
        }
        assert_eq!(poller.stats().registered, count as u64);
        assert!(open_fds() < 20_000);

        // Every seventh is written.
        let written: HashSet<u64> = (0..count as u64).step_by(7).collect();
        for &i in &written {
            signal(fds[i as usize].as_raw_fd());
        }

        // A buffer that holds them all: each exactly once, every wait.
        let mut events = Events::with_capacity(count);
        for _ in 0..2 {
            let n = poller.wait(&mut events, Some(COMES)).unwrap();
            let seen: HashSet<u64> = events.iter().map(|e| e.token()).collect();
            assert_eq!(n, written.len(), "{backend}");
            assert_eq!(seen, written, "{backend}");
            assert!(events.iter().all(|e| e.readiness() == Readiness::READABLE));
        }

        // A smaller one: no duplicate in a wait, all within ceil(W/C).
        let capacity = 1_000;
        let mut events = Events::with_capacity(capacity);
        let mut seen = HashSet::new();
        for _ in 0..written.len().div_ceil(capacity) {
            let n = poller.wait(&mut events, Some(COMES)).unwrap();
            assert_eq!(n, capacity.min(written.len()), "{backend}");
            let this: HashSet<u64> = events.iter().map(|e| e.token()).collect();
            assert_eq!(this.len(), n, "{backend}: a duplicate in one wait");
            seen.extend(this);
        }
        assert_eq!(seen, written, "{backend}");

        for fd in &fds {
            poller.deregister(fd).unwrap();
        }
        assert_eq!(poller.stats().registered, 0);
        // Clear the counters for the next backend.
        let mut counter = 0u64;
        for &i in &written {
            // SAFETY: reads 8 bytes into a live u64.
            let n = unsafe {
                libc::read(
                    fds[i as usize].as_raw_fd(),
                    (&mut counter as *mut u64).cast(),
                    8,
                )
            };
            assert_eq!(n, 8);
        }
    });
    println!(
        "fd limit: {count} eventfds on each backend, {} written, in {:.1} s",
        count.div_ceil(7),
        start.elapsed().as_secs_f64()
    );
}

fn read_count(mut stream: &UnixStream) -> u64 {
    let mut buf = [0u8; 256];
    let mut total = 0;
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    total
}

#[test]
fn a_million_oneshot_events_none_lost_none_duplicated() {
    const PAIRS: usize = 64;
    let _guard = serial();
    let target: u64 = env_or("KPOLL_STRESS_EVENTS", 50_000);
    let oneshot = Interest::READABLE | Interest::ONESHOT;

    each_backend(|backend, poller| {
        let start = Instant::now();
        let pairs: Vec<_> = (0..PAIRS).map(|_| pair()).collect();
        let mut written = [0u64; PAIRS];
        let mut read = [0u64; PAIRS];
        for (i, (peer, end)) in pairs.iter().enumerate() {
            poller.register(end, oneshot, i as u64).unwrap();
            poke(peer);
            written[i] += 1;
        }

        // A reported pair is read and written again at once, but re-armed
        // only after the next wait: that wait must not report it again.
        let mut armed = [true; PAIRS];
        let mut rearm_next: Vec<usize> = Vec::new();
        let mut events = Events::with_capacity(PAIRS);
        let mut total = 0u64;
        let mut writing = true;
        let give_up = Instant::now() + Duration::from_secs(600);
        loop {
            // With every pair reported last time, none is armed: the wait
            // only checks that none comes.
            let any_armed = armed.iter().any(|a| *a);
            let timeout = if any_armed { COMES } else { Duration::ZERO };
            let n = poller.wait(&mut events, Some(timeout)).unwrap();
            let reported: Vec<usize> = events.iter().map(|e| e.token() as usize).collect();
            for &i in &reported {
                assert!(
                    armed[i],
                    "{backend}: pair {i} reported twice without a re-arm"
                );
                armed[i] = false;
                let got = read_count(&pairs[i].1);
                assert!(got > 0, "{backend}: pair {i} reported with nothing to read");
                read[i] += got;
                if writing {
                    poke(&pairs[i].0);
                    written[i] += 1;
                }
            }
            total += n as u64;
            for i in rearm_next.drain(..) {
                poller.modify(&pairs[i].1, oneshot, i as u64).unwrap();
                armed[i] = true;
            }
            rearm_next = reported;
            if total >= target {
                writing = false;
            }
            if !writing && read == written {
                break;
            }
            assert!(
                n > 0 || !any_armed || !writing,
                "{backend}: armed pairs with data, no event"
            );
            assert!(
                Instant::now() < give_up,
                "{backend}: writes lost: {written:?} {read:?}"
            );
        }
        let sent: u64 = written.iter().sum();
        println!(
            "oneshot loop on {backend}: {total} events, {sent} writes all read, \
             none reported twice, in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        assert!(total >= target);
    });
}

/// splitmix64, for the modifying threads.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// The interests a modifying thread picks from; a token carries the index.
const CODES: usize = 5;

fn code(index: usize) -> Interest {
    match index {
        0 => Interest::READABLE,
        1 => Interest::READABLE | Interest::ONESHOT,
        2 => Interest::WRITABLE,
        3 => Interest::empty(),
        _ => Interest::BOTH,
    }
}

fn token(generation: u64, code: usize, pair: usize) -> u64 {
    generation << 16 | (code as u64) << 8 | pair as u64
}

#[test]
fn changes_from_two_threads_while_a_third_waits_take_effect() {
    const PAIRS: usize = 32;
    let _guard = serial();
    let seconds: f64 = env_or("KPOLL_STRESS_SECONDS", 1.0);

    each_backend(|backend, poller| {
        let pairs: Vec<_> = (0..PAIRS).map(|_| pair()).collect();
        let fds: Vec<RawFd> = pairs.iter().map(|(_, end)| raw(end)).collect();
        for (peer, _) in &pairs {
            poke(peer);
        }
        // The lowest generation a wait that begins now may report, per pair:
        // raised once a modify, register or deregister has returned.
        let floor: Vec<AtomicU64> = (0..PAIRS).map(|_| AtomicU64::new(0)).collect();
        let stop = AtomicBool::new(false);
        let changes = AtomicU64::new(0);

        let (events_seen, waits) = thread::scope(|scope| {
            for worker in 0..2usize {
                let (fds, floor, stop, changes) = (&fds, &floor, &stop, &changes);
                scope.spawn(move || {
                    let mut rng = Rng(worker as u64 + 1);
                    let mine: Vec<usize> = (worker..PAIRS).step_by(2).collect();
                    let mut generation = [0u64; PAIRS];
                    let mut registered = [false; PAIRS];
                    while !stop.load(Ordering::Relaxed) {
                        let pair = mine[rng.below(mine.len() as u64) as usize];
                        let code_index = rng.below(CODES as u64) as usize;
                        generation[pair] += 1;
                        let g = generation[pair];
                        let tok = token(g, code_index, pair);
                        if !registered[pair] {
                            poller.register(fds[pair], code(code_index), tok).unwrap();
                            registered[pair] = true;
                            floor[pair].store(g, Ordering::Release);
                        } else if rng.below(8) == 0 {
                            poller.deregister(fds[pair]).unwrap();
                            registered[pair] = false;
                            floor[pair].store(g, Ordering::Release);
                        } else {
                            poller.modify(fds[pair], code(code_index), tok).unwrap();
                            floor[pair].store(g, Ordering::Release);
                        }
                        changes.fetch_add(1, Ordering::Relaxed);
                    }
                    // Leave every pair registered, level, readable.
                    for &pair in &mine {
                        let g = generation[pair] + 1;
                        let tok = token(g, 0, pair);
                        if registered[pair] {
                            poller.modify(fds[pair], Interest::READABLE, tok).unwrap();
                        } else {
                            poller.register(fds[pair], Interest::READABLE, tok).unwrap();
                        }
                        floor[pair].store(g, Ordering::Release);
                    }
                });
            }

            let end = Instant::now() + Duration::from_secs_f64(seconds);
            let mut events = Events::with_capacity(PAIRS);
            let mut oneshots = HashSet::new();
            let (mut seen, mut waits) = (0u64, 0u64);
            while Instant::now() < end {
                let floors: Vec<u64> = floor.iter().map(|f| f.load(Ordering::Acquire)).collect();
                poller
                    .wait(&mut events, Some(Duration::from_millis(20)))
                    .unwrap();
                waits += 1;
                let mut fds_seen = HashSet::new();
                for event in events.iter() {
                    let tok = event.token();
                    let (g, code_index, pair) =
                        (tok >> 16, (tok >> 8 & 0xff) as usize, tok as u8 as usize);
                    assert_eq!(event.fd(), fds[pair], "{backend}: {event:?}");
                    assert!(fds_seen.insert(pair), "{backend}: two events for one fd");
                    // Deregistering raised the floor to the generation of
                    // the deregister itself, which no token carries.
                    assert!(
                        g >= floors[pair],
                        "{backend}: {event:?} from generation {g}, changed to {} before the wait",
                        floors[pair]
                    );
                    let interest = code(code_index);
                    assert!(!interest.is_empty(), "{backend}: disarmed fd reported");
                    let allowed = interest.conditions() | Readiness::ERROR | Readiness::HANGUP;
                    assert!(allowed.contains(event.readiness()), "{backend}: {event:?}");
                    assert!(!event.readiness().is_empty());
                    if interest.is_oneshot() {
                        assert!(oneshots.insert(tok), "{backend}: oneshot {tok:#x} twice");
                    }
                    seen += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            (seen, waits)
        });

        // Every pair ends level and readable, with its last token.
        let floors: Vec<u64> = floor.iter().map(|f| f.load(Ordering::Acquire)).collect();
        let mut events = Events::with_capacity(PAIRS);
        let found = wait(poller, &mut events, COMES);
        assert_eq!(found.len(), PAIRS, "{backend}");
        for (tok, readiness) in found {
            let pair = tok as u8 as usize;
            assert_eq!(tok, token(floors[pair], 0, pair), "{backend}");
            assert_eq!(readiness, Readiness::READABLE);
        }
        println!(
            "threads on {backend}: {} changes from two threads, {waits} waits, \
             {events_seen} events checked, in {seconds} s",
            changes.load(Ordering::Relaxed)
        );
        assert!(events_seen > 0 && changes.load(Ordering::Relaxed) > 0);
    });
}
