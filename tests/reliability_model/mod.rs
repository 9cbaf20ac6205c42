//! The differential engine: random operations on a pool of socket pairs, a
//! model of DESIGN.md's semantics that says what every wait must and may
//! report, and a runner that plays one sequence on one backend and checks
//! every call and every wait against the model.
//!
//! The model keeps, per pair, what the kernel knows (bytes pending each way,
//! a full send buffer, a closed peer, a pending error, a closed registered
//! end) and what the poller knows (registration, interest, token, armed).
//! What the backends are allowed to do differently is written here and only
//! here:
//!
//! - select cannot see a hangup or an error: it reports the fd readable
//!   (and writable for an error) as far as the interest asks;
//! - a registered end closed while registered is reported as `ERROR` by poll
//!   and select, and forgotten by epoll (the kernel drops the closed file);
//! - `register` of a closed fd that is still registered is `EEXIST` (epoll
//!   looks at its registry first) or `EBADF` (poll and select look at the fd
//!   first);
//! - a wake takes one slot of epoll's buffer, so a wait right after a wake
//!   may return one event fewer; so does the nudge that a change to epoll's
//!   poll(2) fallback list (a regular file registered, changed or
//!   deregistered) sends to its waiter;
//! - with regular files ready on epoll (its poll(2) fallback) beside ready
//!   sockets, the fairness bound is 2*ceil(R/C)+1 waits, not ceil(R/C): the
//!   two sources take turns (a known gap, marked in epoll.rs);
//! - edge mode is epoll's alone, and it reports on every wake-up of the
//!   file, so the model says which edges *must* come and which *may*.
//!
//! Each sequence works on its own pool and poller, opens no fd while it runs
//! (so a closed fd number is not reused under the model's feet) and returns a
//! trace that [`compare`] sets beside the other backends' traces.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use kpoll::{Backend, Events, Interest, Poller, Readiness};

/// Entries in each sequence's pool: socket pairs, and last the regular
/// files (which epoll refuses and serves through its poll(2) fallback).
pub const PAIRS: usize = 16;
/// Of those, how many are regular files.
pub const FILES: usize = 2;

/// Writes the peer may queue before the model stops it, far below the point
/// where the peer's own buffer would fill.
const MAX_PENDING_IN: u32 = 16;
/// The same for the registered end's small writes to the peer.
const MAX_PENDING_OUT: u32 = 8;

/// Where a sequence's choices come from: a seeded generator, or fuzzer bytes.
pub trait Choices {
    /// A number below `n` (`n` > 0), or `None` when the source is exhausted.
    fn below(&mut self, n: u64) -> Option<u64>;
}

/// splitmix64: small, fast, and good enough to pick operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Choices for Rng {
    fn below(&mut self, n: u64) -> Option<u64> {
        Some(self.next_u64() % n)
    }
}

/// Fuzzer bytes read as choices, up to four bytes each.
pub struct Bytes<'a>(pub &'a [u8]);

impl Choices for Bytes<'_> {
    fn below(&mut self, n: u64) -> Option<u64> {
        if self.0.is_empty() {
            return None;
        }
        let wide = if n <= 1 << 8 {
            1
        } else if n <= 1 << 16 {
            2
        } else {
            4
        };
        let take = wide.min(self.0.len());
        let mut value = 0u64;
        for &byte in &self.0[..take] {
            value = value << 8 | u64::from(byte);
        }
        self.0 = &self.0[take..];
        Some(value % n)
    }
}

/// One step of a sequence. `pair` indexes the pool: each pair has a
/// registered end (the one the poller watches) and a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Register {
        pair: usize,
        interest: u32,
        token: u64,
    },
    Modify {
        pair: usize,
        interest: u32,
        token: u64,
    },
    Deregister {
        pair: usize,
    },
    /// The peer writes one byte: the end becomes readable.
    Write {
        pair: usize,
    },
    /// The end reads all it has (and the pending error, if any).
    Drain {
        pair: usize,
    },
    /// The end writes one byte to the peer.
    Reply {
        pair: usize,
    },
    /// The end writes until its send buffer is full: it is not writable.
    Fill {
        pair: usize,
    },
    /// The peer reads everything the end sent: the end is writable again.
    Unfill {
        pair: usize,
    },
    /// The peer is closed: the end is hung up (and in error when the peer
    /// had unread data).
    ClosePeer {
        pair: usize,
    },
    /// The registered end is closed and kept registered.
    Close {
        pair: usize,
    },
    Wake,
    /// `repeat` waits in a row with nothing in between, with room for
    /// `capacity` events each.
    Wait {
        capacity: usize,
        repeat: usize,
    },
}

/// Which interest modes a sequence uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modes {
    /// Level and oneshot, which every backend has: the traces compare.
    Portable,
    /// Edge too, which only epoll (and kqueue) have; the others must refuse it.
    WithEdge,
}

fn interest(c: &mut impl Choices, modes: Modes) -> Option<u32> {
    let conditions = match c.below(100)? {
        0..=44 => Interest::READABLE,
        45..=64 => Interest::WRITABLE,
        65..=84 => Interest::BOTH,
        85..=89 => Interest::READABLE | Interest::PRIORITY,
        90..=94 => Interest::empty(),
        _ => Interest::BOTH | Interest::PRIORITY,
    };
    let mode = match (modes, c.below(100)?) {
        (Modes::Portable, 0..=54) | (Modes::WithEdge, 0..=39) => Interest::empty(),
        (Modes::Portable, _) | (Modes::WithEdge, 40..=74) => Interest::ONESHOT,
        (Modes::WithEdge, 75..=89) => Interest::EDGE,
        (Modes::WithEdge, _) => Interest::EDGE | Interest::ONESHOT,
    };
    Some((conditions | mode).bits())
}

fn token(c: &mut impl Choices) -> Option<u64> {
    Some(c.below(1 << 32)? << 32 | c.below(1 << 32)?)
}

/// One operation, or `None` when the choices run out.
pub fn next_op(c: &mut impl Choices, modes: Modes) -> Option<Op> {
    let pair = c.below(PAIRS as u64)? as usize;
    let op = match c.below(100)? {
        0..=13 => Op::Register {
            pair,
            interest: interest(c, modes)?,
            token: token(c)?,
        },
        14..=27 => Op::Modify {
            pair,
            interest: interest(c, modes)?,
            token: token(c)?,
        },
        28..=32 => Op::Deregister { pair },
        33..=46 => Op::Write { pair },
        47..=54 => Op::Drain { pair },
        55..=58 => Op::Reply { pair },
        59..=61 => Op::Fill { pair },
        62..=65 => Op::Unfill { pair },
        66 => Op::ClosePeer { pair },
        67 => Op::Close { pair },
        68..=70 => Op::Wake,
        _ => {
            let capacity = match c.below(10)? {
                0..=2 => 1 + c.below(3)?,
                3..=6 => 4 + c.below(5)?,
                _ => 16 + c.below(17)?,
            };
            Op::Wait {
                capacity: capacity as usize,
                repeat: 1 + c.below(4)? as usize,
            }
        }
    };
    Some(op)
}

/// A sequence of `len` operations from a seed.
pub fn generate(seed: u64, len: usize, modes: Modes) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    (0..len).filter_map(|_| next_op(&mut rng, modes)).collect()
}

/// A sequence from fuzzer bytes: the first byte picks the modes.
pub fn from_bytes(bytes: &[u8]) -> (Modes, Vec<Op>) {
    let Some((&first, rest)) = bytes.split_first() else {
        return (Modes::Portable, Vec::new());
    };
    let modes = if first & 1 == 0 {
        Modes::Portable
    } else {
        Modes::WithEdge
    };
    let mut c = Bytes(rest);
    let mut ops = Vec::new();
    while let Some(op) = next_op(&mut c, modes) {
        ops.push(op);
    }
    (modes, ops)
}

/// What the poller knows of a registration, as the model sees it.
#[derive(Clone, Copy, Debug)]
struct Reg {
    interest: Interest,
    token: u64,
    armed: bool,
    /// Edge mode: a wake-up of the file since the last report, which epoll
    /// may report.
    edge_may: bool,
    /// Edge mode: a wake-up that matches the interest, which epoll must report.
    edge_must: bool,
}

/// What the kernel and the poller know of one pair.
#[derive(Clone, Debug, Default)]
struct PairModel {
    reg: Option<Reg>,
    /// Writes of the peer that the end has not read.
    pending_in: u32,
    /// Writes of the end that the peer has not read.
    pending_out: u32,
    /// The end's send buffer is full.
    full: bool,
    peer_closed: bool,
    /// The peer was closed with unread data (`ECONNRESET` on the end).
    error: bool,
    end_closed: bool,
    /// A regular file: always readable and writable, no peer.
    file: bool,
}

impl PairModel {
    /// The readiness poll(2) gives the end.
    fn kernel(&self) -> Readiness {
        if self.file {
            return Readiness::READABLE | Readiness::WRITABLE;
        }
        let mut r = Readiness::empty();
        if self.pending_in > 0 || self.peer_closed || self.error {
            r |= Readiness::READABLE;
        }
        if !self.full {
            r |= Readiness::WRITABLE;
        }
        if self.peer_closed {
            r |= Readiness::HANGUP;
        }
        if self.error {
            r |= Readiness::ERROR;
        }
        r
    }

    /// The bits `backend` reports for an armed registration with `interest`.
    fn expected(&self, backend: Backend, interest: Interest) -> Readiness {
        if self.end_closed {
            // epoll's fallback serves files with poll(2), which sees the
            // closed number like poll does.
            return match backend {
                Backend::Epoll if !self.file => Readiness::empty(),
                _ => Readiness::ERROR,
            };
        }
        let k = self.kernel();
        if backend == Backend::Select {
            let mut r = Readiness::empty();
            let eof = Readiness::READABLE | Readiness::HANGUP | Readiness::ERROR;
            if interest.contains(Interest::READABLE) && k.intersects(eof) {
                r |= Readiness::READABLE;
            }
            let room = Readiness::WRITABLE | Readiness::ERROR;
            if interest.contains(Interest::WRITABLE) && k.intersects(room) {
                r |= Readiness::WRITABLE;
            }
            return r;
        }
        k & (interest.conditions() | Readiness::ERROR | Readiness::HANGUP)
    }

    /// Records a wake-up of the end's file for an edge registration: it may
    /// be reported, and must be when it matches the interest.
    fn touch(&mut self, matches: Readiness) {
        if let Some(reg) = &mut self.reg {
            if reg.interest.is_edge() && reg.armed {
                reg.edge_may = true;
                if reg.interest.conditions().intersects(matches) {
                    reg.edge_must = true;
                }
            }
        }
    }
}

/// What a wait reported (pair, token, bits), beside a digest of the
/// registrations it began with.
type Snapshot = (u64, BTreeSet<(usize, u64, u32)>);

/// What one backend did with one sequence, for [`compare`].
#[derive(Debug, Default)]
pub struct Trace {
    pub backend: Option<Backend>,
    /// Per operation: the errno of a call (0 for success), or `None`.
    calls: Vec<Option<i32>>,
    /// Per operation: whether the model allows more than one result.
    flexible: Vec<bool>,
    /// Per operation: per wait of it, what was reported, where the model
    /// says every backend must report the same.
    waits: Vec<Vec<Option<Snapshot>>>,
    pub ops: u64,
    pub waits_checked: u64,
    pub events_checked: u64,
}

/// Counts that a campaign adds up.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub sequences: u64,
    pub ops: u64,
    pub waits: u64,
    pub events: u64,
}

impl Counts {
    pub fn add(&mut self, trace: &Trace) {
        self.ops += trace.ops;
        self.waits += trace.waits_checked;
        self.events += trace.events_checked;
    }
}

struct Pair {
    peer: Option<UnixStream>,
    end: Option<UnixStream>,
    file: Option<std::fs::File>,
    fd: RawFd,
}

/// An unlinked regular file, open for reading and writing.
fn regular_file(index: usize) -> Result<std::fs::File, String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("kpoll-model-{}-{n}-{index}", std::process::id());
    let path = std::env::temp_dir().join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

fn errno_of(result: std::io::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => err.raw_os_error().unwrap_or(-1),
    }
}

fn read_all(mut stream: &UnixStream) {
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

/// Plays `ops` on a fresh poller of `backend` and checks it against the model.
/// The error names the operation, what the model expected and what came.
pub fn run(backend: Backend, modes: Modes, ops: &[Op]) -> Result<Trace, String> {
    let mut runner = Runner::new(backend)?;
    let result = runner.play(modes, ops);
    let trace = std::mem::take(&mut runner.trace);
    result.map(|()| trace).map_err(|msg| {
        let mut text = format!("{backend}: {msg}\nsequence ({} ops):\n", ops.len());
        for (i, op) in ops.iter().enumerate() {
            let _ = writeln!(text, "  {i:3} {op:?}");
        }
        text
    })
}

struct Runner {
    backend: Backend,
    poller: Poller,
    pairs: Vec<Pair>,
    model: Vec<PairModel>,
    by_fd: HashMap<RawFd, usize>,
    /// A wake was made and no wait has surely consumed it yet.
    wake: WakeState,
    /// epoll's fallback list changed and its nudge may take a slot.
    nudge: bool,
    trace: Trace,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WakeState {
    None,
    /// Made, and no wait since: the next wait must return at once.
    Pending,
    /// A wait since returned a full buffer, which on epoll may have left
    /// the wake queued behind the events.
    Maybe,
}

impl Runner {
    fn new(backend: Backend) -> Result<Runner, String> {
        let poller = Poller::with_backend(backend).map_err(|e| format!("new: {e}"))?;
        let mut pairs = Vec::with_capacity(PAIRS);
        let mut by_fd = HashMap::new();
        let mut model = vec![PairModel::default(); PAIRS];
        for (index, m) in model.iter_mut().enumerate() {
            if index >= PAIRS - FILES {
                let file = regular_file(index)?;
                let fd = file.as_raw_fd();
                by_fd.insert(fd, index);
                m.file = true;
                pairs.push(Pair {
                    peer: None,
                    end: None,
                    file: Some(file),
                    fd,
                });
                continue;
            }
            let (peer, end) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
            peer.set_nonblocking(true).unwrap();
            end.set_nonblocking(true).unwrap();
            let fd = end.as_raw_fd();
            by_fd.insert(fd, index);
            pairs.push(Pair {
                peer: Some(peer),
                end: Some(end),
                file: None,
                fd,
            });
        }
        Ok(Runner {
            backend,
            poller,
            pairs,
            model,
            by_fd,
            wake: WakeState::None,
            nudge: false,
            trace: Trace {
                backend: Some(backend),
                ..Trace::default()
            },
        })
    }

    fn play(&mut self, modes: Modes, ops: &[Op]) -> Result<(), String> {
        for (index, op) in ops.iter().enumerate() {
            self.trace.calls.push(None);
            self.trace.flexible.push(false);
            self.trace.waits.push(Vec::new());
            self.step(index, op)
                .map_err(|msg| format!("op {index} {op:?}: {msg}"))?;
            self.trace.ops += 1;
        }
        self.finish(modes)
    }

    fn registered(&self) -> u64 {
        self.model.iter().filter(|p| p.reg.is_some()).count() as u64
    }

    fn check_call(
        &mut self,
        index: usize,
        pair: usize,
        got: i32,
        allowed: &[i32],
    ) -> Result<(), String> {
        self.trace.calls[index] = Some(got);
        self.trace.flexible[index] = allowed.len() > 1;
        if got == 0 && self.backend == Backend::Epoll && self.model[pair].file {
            self.nudge = true;
        }
        if !allowed.contains(&got) {
            return Err(format!("errno {got}, the model allows {allowed:?}"));
        }
        let stats = self.poller.stats();
        if stats.registered != self.registered() {
            return Err(format!(
                "stats.registered {}, the model has {}",
                stats.registered,
                self.registered()
            ));
        }
        let files = self
            .model
            .iter()
            .filter(|m| m.file && m.reg.is_some())
            .count() as u64;
        let fallback = match self.backend {
            Backend::Epoll => files,
            _ => 0,
        };
        if stats.fallback != fallback {
            return Err(format!(
                "stats.fallback {}, the model has {fallback}",
                stats.fallback
            ));
        }
        Ok(())
    }

    fn unsupported(&self, interest: Interest) -> bool {
        interest.is_edge() && self.backend != Backend::Epoll && self.backend != Backend::Kqueue
    }

    fn step(&mut self, index: usize, op: &Op) -> Result<(), String> {
        match *op {
            Op::Register {
                pair,
                interest,
                token,
            } => {
                let interest = Interest::from_bits(interest).expect("generated bits");
                let fd = self.pairs[pair].fd;
                let got = errno_of(self.poller.register(fd, interest, token));
                let m = &self.model[pair];
                let fallback_edge = m.file && interest.is_edge();
                let allowed: &[i32] = if self.unsupported(interest) {
                    &[libc::ENOTSUP]
                } else if m.reg.is_some() && m.end_closed {
                    &[libc::EEXIST, libc::EBADF]
                } else if m.reg.is_some() {
                    &[libc::EEXIST]
                } else if m.end_closed {
                    &[libc::EBADF]
                } else if fallback_edge {
                    // The fallback has no edge mode.
                    &[libc::ENOTSUP]
                } else {
                    &[0]
                };
                if allowed == [0] {
                    self.arm(pair, interest, token);
                }
                self.check_call(index, pair, got, allowed)
            }
            Op::Modify {
                pair,
                interest,
                token,
            } => {
                let interest = Interest::from_bits(interest).expect("generated bits");
                let fd = self.pairs[pair].fd;
                let got = errno_of(self.poller.modify(fd, interest, token));
                let m = &self.model[pair];
                let fallback_edge = m.file && interest.is_edge();
                let allowed: &[i32] = if self.unsupported(interest) {
                    &[libc::ENOTSUP]
                } else if m.reg.is_none() {
                    &[libc::ENOENT]
                } else if m.end_closed && fallback_edge {
                    &[libc::ENOTSUP, libc::EBADF]
                } else if m.end_closed {
                    &[libc::EBADF]
                } else if fallback_edge {
                    &[libc::ENOTSUP]
                } else {
                    &[0]
                };
                if allowed == [0] {
                    self.arm(pair, interest, token);
                }
                self.check_call(index, pair, got, allowed)
            }
            Op::Deregister { pair } => {
                let fd = self.pairs[pair].fd;
                let got = errno_of(self.poller.deregister(fd));
                let allowed: &[i32] = if self.model[pair].reg.take().is_some() {
                    &[0]
                } else {
                    &[libc::ENOENT]
                };
                self.check_call(index, pair, got, allowed)
            }
            Op::Write { pair } => {
                let m = &self.model[pair];
                if m.file || m.end_closed || m.peer_closed || m.pending_in >= MAX_PENDING_IN {
                    return Ok(());
                }
                let mut peer = self.pairs[pair].peer.as_ref().unwrap();
                peer.write_all(b"w")
                    .map_err(|e| format!("peer write: {e}"))?;
                let m = &mut self.model[pair];
                m.pending_in += 1;
                m.touch(Readiness::READABLE);
                Ok(())
            }
            Op::Drain { pair } => {
                if self.model[pair].file || self.model[pair].end_closed {
                    return Ok(());
                }
                read_all(self.pairs[pair].end.as_ref().unwrap());
                let m = &mut self.model[pair];
                m.pending_in = 0;
                m.error = false;
                m.touch(Readiness::empty());
                Ok(())
            }
            Op::Reply { pair } => {
                let m = &self.model[pair];
                if m.file
                    || m.end_closed
                    || m.peer_closed
                    || m.full
                    || m.pending_out >= MAX_PENDING_OUT
                {
                    return Ok(());
                }
                let mut end = self.pairs[pair].end.as_ref().unwrap();
                end.write_all(b"r").map_err(|e| format!("end write: {e}"))?;
                let m = &mut self.model[pair];
                m.pending_out += 1;
                m.touch(Readiness::empty());
                Ok(())
            }
            Op::Fill { pair } => {
                let m = &self.model[pair];
                if m.file || m.end_closed || m.peer_closed || m.full {
                    return Ok(());
                }
                let mut end = self.pairs[pair].end.as_ref().unwrap();
                let chunk = [0u8; 4096];
                loop {
                    match end.write(&chunk) {
                        Ok(_) => {}
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) if err.kind() == ErrorKind::Interrupted => {}
                        Err(err) => return Err(format!("fill: {err}")),
                    }
                }
                let m = &mut self.model[pair];
                m.pending_out += 1;
                m.full = true;
                m.touch(Readiness::empty());
                Ok(())
            }
            Op::Unfill { pair } => {
                let m = &self.model[pair];
                if m.file || m.peer_closed {
                    return Ok(());
                }
                let had = m.pending_out > 0;
                read_all(self.pairs[pair].peer.as_ref().unwrap());
                let m = &mut self.model[pair];
                m.pending_out = 0;
                m.full = false;
                if !m.end_closed {
                    // The peer's read frees the end's buffer and wakes its
                    // writers.
                    m.touch(if had {
                        Readiness::WRITABLE
                    } else {
                        Readiness::empty()
                    });
                }
                Ok(())
            }
            Op::ClosePeer { pair } => {
                if self.model[pair].file || self.model[pair].peer_closed {
                    return Ok(());
                }
                drop(self.pairs[pair].peer.take());
                let m = &mut self.model[pair];
                m.peer_closed = true;
                if !m.end_closed {
                    m.error = m.pending_out > 0;
                    m.touch(Readiness::all());
                }
                m.pending_out = 0;
                m.full = false;
                Ok(())
            }
            Op::Close { pair } => {
                if self.model[pair].end_closed {
                    return Ok(());
                }
                drop(self.pairs[pair].end.take());
                drop(self.pairs[pair].file.take());
                let m = &mut self.model[pair];
                m.end_closed = true;
                m.pending_in = 0;
                m.error = false;
                Ok(())
            }
            Op::Wake => {
                self.poller.wake().map_err(|e| format!("wake: {e}"))?;
                self.wake = WakeState::Pending;
                self.trace.calls[index] = Some(0);
                Ok(())
            }
            Op::Wait { capacity, repeat } => self.burst(index, capacity, repeat),
        }
    }

    fn arm(&mut self, pair: usize, interest: Interest, token: u64) {
        let m = &mut self.model[pair];
        let armed = !interest.conditions().is_empty();
        m.reg = Some(Reg {
            interest,
            token,
            armed,
            edge_may: false,
            edge_must: false,
        });
        // epoll_ctl looks at the file at once: a condition that holds is an
        // edge.
        if armed && interest.is_edge() && !m.end_closed {
            let now = m.expected(self.backend, interest);
            let reg = m.reg.as_mut().unwrap();
            reg.edge_may = true;
            reg.edge_must = !now.is_empty();
        }
    }

    /// A digest of the registrations, as the model has them.
    fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for m in &self.model {
            m.reg
                .map(|r| (r.interest.bits(), r.token, r.armed))
                .hash(&mut hasher);
        }
        hasher.finish()
    }

    /// The pairs a wait must report, and those it may, with their bits.
    fn due(&self) -> (Vec<usize>, HashMap<usize, (u64, Readiness)>) {
        let mut must = Vec::new();
        let mut may = HashMap::new();
        for (index, m) in self.model.iter().enumerate() {
            let Some(reg) = m.reg else { continue };
            if !reg.armed {
                continue;
            }
            let bits = m.expected(self.backend, reg.interest);
            if bits.is_empty() {
                continue;
            }
            if reg.interest.is_edge() {
                if reg.edge_may || reg.edge_must {
                    may.insert(index, (reg.token, bits));
                }
                if reg.edge_must {
                    must.push(index);
                }
            } else {
                may.insert(index, (reg.token, bits));
                must.push(index);
            }
        }
        (must, may)
    }

    fn burst(&mut self, index: usize, capacity: usize, repeat: usize) -> Result<(), String> {
        let mut events = Events::with_capacity(capacity);
        let (_, may) = self.due();
        let extra = usize::from(self.wake != WakeState::None) + usize::from(self.nudge);
        let mut bound = (may.len() + extra).div_ceil(capacity).max(1);
        // epoll's kernel set and its poll(2) fallback take turns at the
        // first pick: a known gap of epoll.rs, within 2*ceil(R/C)+1.
        if self.backend == Backend::Epoll && may.keys().any(|&p| self.model[p].file) {
            bound = 2 * bound + 1;
        }
        let mut streak = [0usize; PAIRS];

        for round in 0..repeat {
            let (must, may) = self.due();
            let state = self.fingerprint();
            let wake = self.wake;
            let nudge = self.nudge;
            let deterministic = may.len() == must.len()
                && must.len() <= capacity
                && wake == WakeState::None
                && !nudge
                && !self.model.iter().any(|m| m.end_closed && m.reg.is_some());

            // Nothing due: a short timeout checks that the wait blocks for
            // it and returns empty; a pending wake must end a long one at once.
            let timeout = if wake == WakeState::Pending && must.is_empty() {
                Duration::from_secs(5)
            } else if may.is_empty() && wake == WakeState::None && index.is_multiple_of(16) {
                Duration::from_millis(3)
            } else {
                Duration::ZERO
            };
            let start = Instant::now();
            let n = self
                .poller
                .wait(&mut events, Some(timeout))
                .map_err(|e| format!("wait {round}: {e}"))?;
            let elapsed = start.elapsed();
            if trace_enabled() {
                eprintln!(
                    "{}: op {index} wait {round} cap {capacity}: due {must:?}, got {:?}",
                    self.backend,
                    events.as_slice()
                );
            }
            let ctx = |msg: String| format!("wait {round} (capacity {capacity}): {msg}");

            if n != events.len() || n > capacity {
                return Err(ctx(format!("returned {n}, holds {}", events.len())));
            }
            if timeout == Duration::from_secs(5) && elapsed > Duration::from_millis(2500) {
                return Err(ctx(format!("a pending wake did not end it: {elapsed:?}")));
            }
            if timeout == Duration::from_millis(3) && n == 0 && elapsed < timeout {
                return Err(ctx(format!("returned after {elapsed:?}")));
            }

            let mut seen = BTreeSet::new();
            let mut reported = BTreeSet::new();
            for event in events.iter() {
                let Some(&pair) = self.by_fd.get(&event.fd()) else {
                    return Err(ctx(format!("event for an fd of no pair: {event:?}")));
                };
                if !reported.insert(pair) {
                    return Err(ctx(format!("two events for pair {pair}: {events:?}")));
                }
                let Some(&(token, bits)) = may.get(&pair) else {
                    return Err(ctx(format!(
                        "pair {pair} reported, the model has it quiet: {event:?}, {:?}",
                        self.model[pair]
                    )));
                };
                if event.token() != token || event.readiness() != bits {
                    return Err(ctx(format!(
                        "pair {pair}: got {event:?}, the model says token {token} {bits:?}, {:?}",
                        self.model[pair]
                    )));
                }
                let interest = self.model[pair].reg.unwrap().interest;
                let allowed = interest.conditions() | Readiness::ERROR | Readiness::HANGUP;
                if !allowed.contains(event.readiness()) {
                    return Err(ctx(format!("bits beyond the interest: {event:?}")));
                }
                seen.insert((pair, token, bits.bits()));
            }

            let slots_taken = extra_slot(wake) + usize::from(nudge);
            let least = must.len().min(capacity).saturating_sub(slots_taken);
            if n < least {
                return Err(ctx(format!(
                    "{n} events, the model has {} due ({must:?}), got {:?}",
                    must.len(),
                    seen
                )));
            }

            // Fairness: a pair due on every wait is reported within
            // ceil(R/C) of them.
            for &pair in &must {
                if reported.contains(&pair) {
                    streak[pair] = 0;
                } else {
                    streak[pair] += 1;
                    if streak[pair] >= bound {
                        return Err(ctx(format!(
                            "pair {pair} due and passed over {} waits in a row (bound {bound}); \
                             due {must:?}, reported {reported:?}",
                            streak[pair]
                        )));
                    }
                }
            }
            for (pair, s) in streak.iter_mut().enumerate() {
                if !must.contains(&pair) {
                    *s = 0;
                }
            }

            // Oneshot registrations disarm, edges are consumed.
            for &pair in &reported {
                let reg = self.model[pair].reg.as_mut().unwrap();
                if reg.interest.is_oneshot() {
                    reg.armed = false;
                }
                reg.edge_may = false;
                reg.edge_must = false;
            }
            if n < capacity {
                self.nudge = false;
            }
            if wake != WakeState::None {
                self.wake = if n < capacity {
                    WakeState::None
                } else {
                    WakeState::Maybe
                };
            }

            self.trace.waits[index].push(deterministic.then_some((state, seen)));
            self.trace.waits_checked += 1;
            self.trace.events_checked += n as u64;
        }
        Ok(())
    }

    /// Deregisters what is left and checks that nothing is reported after.
    fn finish(&mut self, _modes: Modes) -> Result<(), String> {
        for pair in 0..PAIRS {
            if self.model[pair].reg.take().is_some() {
                self.poller
                    .deregister(self.pairs[pair].fd)
                    .map_err(|e| format!("final deregister of pair {pair}: {e}"))?;
            }
        }
        let mut events = Events::with_capacity(PAIRS);
        let n = self
            .poller
            .wait(&mut events, Some(Duration::ZERO))
            .map_err(|e| format!("final wait: {e}"))?;
        if n != 0 {
            return Err(format!("events after every deregister: {events:?}"));
        }
        let stats = self.poller.stats();
        if stats.registered != 0 {
            return Err(format!("stats.registered {} at the end", stats.registered));
        }
        Ok(())
    }
}

/// `KPOLL_DIFF_TRACE` set: every wait is printed.
fn trace_enabled() -> bool {
    std::env::var_os("KPOLL_DIFF_TRACE").is_some()
}

fn extra_slot(wake: WakeState) -> usize {
    usize::from(wake != WakeState::None)
}

/// The part of a wait that every backend must report alike: the readable
/// and writable bits (select shows a hangup or an error through them).
fn portable(seen: &BTreeSet<(usize, u64, u32)>) -> BTreeSet<(usize, u64, u32)> {
    let rw = (Readiness::READABLE | Readiness::WRITABLE).bits();
    seen.iter()
        .filter(|(_, _, bits)| bits & rw != 0)
        .map(|&(pair, token, bits)| (pair, token, bits & rw))
        .collect()
}

/// Sets the traces of one sequence beside each other: calls must fail alike
/// (where the model allows one result), and deterministic waits must report
/// the same pairs, tokens and bits (the readable and writable bits with
/// select, every bit between epoll and poll).
pub fn compare(traces: &[Trace]) -> Result<(), String> {
    let Some((first, others)) = traces.split_first() else {
        return Ok(());
    };
    for other in others {
        let (a, b) = (first.backend.unwrap(), other.backend.unwrap());
        for op in 0..first.calls.len().min(other.calls.len()) {
            let flexible = first.flexible[op] || other.flexible[op];
            if !flexible && first.calls[op] != other.calls[op] {
                return Err(format!(
                    "op {op}: {a} gave errno {:?}, {b} gave {:?}",
                    first.calls[op], other.calls[op]
                ));
            }
            for (round, (x, y)) in first.waits[op].iter().zip(&other.waits[op]).enumerate() {
                // Waits that had a choice (more due than room) may have
                // disarmed different oneshot registrations: compare only
                // where the registrations agree.
                let (Some((sx, x)), Some((sy, y))) = (x, y) else {
                    continue;
                };
                if sx != sy {
                    continue;
                }
                let exact = a != Backend::Select && b != Backend::Select;
                let same = if exact {
                    x == y
                } else {
                    portable(x) == portable(y)
                };
                if !same {
                    return Err(format!(
                        "op {op} wait {round}: {a} saw {x:?}, {b} saw {y:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs one sequence on every backend of the host and compares the traces.
pub fn run_everywhere(modes: Modes, ops: &[Op], counts: &mut Counts) -> Result<(), String> {
    let mut traces = Vec::new();
    for backend in Backend::supported() {
        let trace = run(backend, modes, ops)?;
        counts.add(&trace);
        traces.push(trace);
    }
    counts.sequences += 1;
    if modes == Modes::Portable {
        compare(&traces)?;
    }
    Ok(())
}
