//! The chained-write workload (the one of libevent's `bench.c`, written
//! anew): N connections, A of them written to at the start of a round, and
//! every read passes a byte on to the next connection until W writes are
//! done. Only the dispatch loop is timed.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::alloc;
use crate::conns::Conns;
use crate::measure::{cpu_ns, median, ns_since};

/// A run that takes this long lost a byte: SIGALRM then ends the process,
/// as it does the C loops. Waits themselves have no timeout, as in C, so
/// that no loop reads the clock on the wait path for the harness's sake.
pub const STALL_SECS: u32 = 120;

/// Least time spent in untimed rounds before the timed ones.
const WARM_UP: Duration = Duration::from_millis(20);

/// An event loop under test: it watches fds for reading, with token `i`
/// for `fds[i]`, and hands the ready tokens to a callback.
pub trait EventLoop {
    /// Registers `fds[i]` for reading with token `i`.
    fn register_all(&mut self, fds: &[RawFd]) -> io::Result<()>;

    /// Deregisters all of `fds`.
    fn deregister_all(&mut self, fds: &[RawFd]) -> io::Result<()>;

    /// Waits once, without a timeout, and calls `on_ready` per ready
    /// token; returns how many events came.
    fn wait_dispatch<F: FnMut(usize)>(&mut self, on_ready: F) -> io::Result<usize>;
}

/// The shape of a run.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// A: connections written to at the start of each round.
    pub active: usize,
    /// W: chained writes per round.
    pub writes: u64,
    /// Fewest timed rounds.
    pub min_rounds: usize,
    /// Most timed rounds.
    pub max_rounds: usize,
    /// Rounds are added, up to `max_rounds`, until this much time is spent.
    pub budget: Duration,
}

impl Workload {
    /// The usual shape: W = 100 for one active connection, 10 A otherwise.
    pub fn new(active: usize) -> Workload {
        Workload {
            active,
            writes: (10 * active as u64).max(100),
            min_rounds: 5,
            max_rounds: 41,
            budget: Duration::from_millis(150),
        }
    }
}

/// What a run measured; times are medians over the timed rounds.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// Wall-clock time of one round's dispatch loop.
    pub wall_ns: u64,
    /// CPU time (user + system, getrusage) of one round's dispatch loop.
    pub cpu_ns: u64,
    /// Events per round: A + W.
    pub events: u64,
    /// Waits per round, on average.
    pub waits: f64,
    /// Timed rounds.
    pub rounds: usize,
    /// Heap allocations made during all the timed rounds.
    pub allocations: u64,
    /// Waits made during all the timed rounds.
    pub total_waits: u64,
    /// Every timed round's wall-clock time, in the order run.
    pub wall_samples: Vec<u64>,
    /// Every timed round's CPU time, in the order run.
    pub cpu_samples: Vec<u64>,
    /// Heap bytes per registration, where the loop measured it itself.
    pub heap_per_fd: Option<f64>,
}

impl RunStats {
    /// Wall-clock nanoseconds per event.
    pub fn wall_per_event(&self) -> f64 {
        self.wall_ns as f64 / self.events.max(1) as f64
    }

    /// CPU nanoseconds per event.
    pub fn cpu_per_event(&self) -> f64 {
        self.cpu_ns as f64 / self.events.max(1) as f64
    }

    /// Heap allocations per wait.
    pub fn allocations_per_wait(&self) -> f64 {
        self.allocations as f64 / self.total_waits.max(1) as f64
    }
}

/// Runs `workload` on `lp` over `conns`, which `lp` already watches.
pub fn run<L: EventLoop>(lp: &mut L, conns: &Conns, workload: &Workload) -> io::Result<RunStats> {
    let mut chain = Chain {
        conns,
        count: 0,
        fired: 0,
        writes_left: 0,
        failed: false,
    };
    let mut walls = Vec::with_capacity(workload.max_rounds);
    let mut cpus = Vec::with_capacity(workload.max_rounds);

    // SAFETY: alarm takes no pointers; the default SIGALRM action is
    // wanted: a hung run ends the process.
    unsafe { libc::alarm(STALL_SECS) };

    // Untimed rounds first, so that lazy allocations, a child just
    // started and cold caches are behind us.
    let warming = Instant::now();
    for i in 0.. {
        chain.round(lp, workload)?;
        if i >= 1 && warming.elapsed() >= WARM_UP {
            break;
        }
    }

    let allocations_before = alloc::allocations();
    let started = Instant::now();
    let mut total_waits = 0;
    while walls.len() < workload.max_rounds
        && (walls.len() < workload.min_rounds || started.elapsed() < workload.budget)
    {
        let (wall, cpu, waits) = chain.round(lp, workload)?;
        walls.push(wall);
        cpus.push(cpu);
        total_waits += waits;
    }
    let allocations = alloc::allocations() - allocations_before;
    // SAFETY: as above; 0 cancels the alarm.
    unsafe { libc::alarm(0) };

    let rounds = walls.len();
    let (wall_samples, cpu_samples) = (walls.clone(), cpus.clone());
    Ok(RunStats {
        wall_ns: median(&mut walls),
        cpu_ns: median(&mut cpus),
        events: chain.fired,
        waits: total_waits as f64 / rounds as f64,
        rounds,
        allocations,
        total_waits,
        wall_samples,
        cpu_samples,
        heap_per_fd: None,
    })
}

struct Chain<'a> {
    conns: &'a Conns,
    count: u64,
    fired: u64,
    writes_left: u64,
    failed: bool,
}

impl Chain<'_> {
    /// Seeds A spread-out connections and dispatches until every byte is
    /// read; returns wall and CPU nanoseconds and the waits made.
    fn round<L: EventLoop>(&mut self, lp: &mut L, w: &Workload) -> io::Result<(u64, u64, u64)> {
        let space = self.conns.len() / w.active;
        self.count = 0;
        self.fired = 0;
        self.writes_left = w.writes;
        for i in 0..w.active {
            self.send(i * space);
            self.fired += 1;
        }

        let cpu0 = cpu_ns();
        let t0 = Instant::now();
        let mut waits = 0;
        while self.count != self.fired {
            if lp.wait_dispatch(|idx| self.on_readable(idx))? == 0 {
                return Err(io::Error::other("a wait returned no event"));
            }
            waits += 1;
        }
        let wall = ns_since(t0);
        let cpu = cpu_ns() - cpu0;

        if self.failed {
            return Err(io::Error::other("a read or write did not move a byte"));
        }
        Ok((wall, cpu, waits))
    }

    /// The read callback: take one byte, pass one on. A connection that
    /// holds two bytes stays readable, as in `bench.c`: level-triggered
    /// loops report it again; edge-triggered mio does too, because the
    /// second byte arrived after the wait that reported the first.
    fn on_readable(&mut self, idx: usize) {
        let mut byte = 0u8;
        // SAFETY: one writable byte; the fd is open while `conns` lives.
        let got = unsafe { libc::read(self.conns.rd[idx], (&mut byte as *mut u8).cast(), 1) };
        if got == 1 {
            self.count += 1;
        } else {
            self.failed = true;
        }

        if self.writes_left == 0 {
            return;
        }
        let next = if idx + 1 == self.conns.len() {
            0
        } else {
            idx + 1
        };
        self.send(next);
        self.writes_left -= 1;
        self.fired += 1;
    }

    fn send(&mut self, idx: usize) {
        // SAFETY: one byte from a static; the fd is open while `conns` lives.
        if unsafe { libc::write(self.conns.wr[idx], b"e".as_ptr().cast(), 1) } != 1 {
            self.failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loops::{KpollLoop, MioLoop};

    fn workload(active: usize) -> Workload {
        Workload {
            min_rounds: 2,
            max_rounds: 2,
            ..Workload::new(active)
        }
    }

    #[test]
    fn every_round_reads_each_seed_and_chained_byte() {
        let conns = Conns::socketpairs(50).unwrap();
        for backend in kpoll::Backend::supported() {
            let mut lp = KpollLoop::new(backend).unwrap();
            lp.register_all(&conns.rd).unwrap();
            let stats = run(&mut lp, &conns, &workload(5)).unwrap();
            assert_eq!(stats.events, 5 + 100, "{backend:?}");
            assert_eq!(stats.rounds, 2);
            assert_eq!(stats.wall_samples.len(), 2);
            assert!(stats.total_waits >= 2 * 11, "{backend:?}: {stats:?}");
        }
    }

    #[test]
    fn two_bytes_on_one_pair_are_both_read_by_an_edge_triggered_loop() {
        // Every pair active: each one holds its seed and its neighbour's byte.
        let conns = Conns::socketpairs(20).unwrap();
        let mut lp = MioLoop::new().unwrap();
        lp.register_all(&conns.rd).unwrap();
        let stats = run(&mut lp, &conns, &workload(20)).unwrap();
        assert_eq!(stats.events, 20 + 200);
    }
}
