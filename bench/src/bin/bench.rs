//! `kpoll-bench`: kpoll beside its floors and its peers, in one run.
//!
//! 1. The chained-write workload on kpoll (Rust API, and C ABI when built),
//!    the raw epoll/poll/select loops in C and Rust, libevent and libev on
//!    epoll and poll, mio and polling; with ratios pair by pair.
//! 2. Register + deregister throughput against raw `epoll_ctl`.
//! 3. Wake-to-return latency against a raw eventfd loop.
//! 4. User-space memory per registered fd, and allocations per wait.
//!
//! Usage: `kpoll-bench [--c-dir DIR] [--smoke]`. The C loops are looked up
//! in DIR (`make bench` builds them into `target/bench-c`); missing ones are
//! reported and skipped.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, IsTerminal};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kpoll::Backend;
use kpoll_bench::alloc;
use kpoll_bench::chain::{self, EventLoop, RunStats, Workload};
use kpoll_bench::conns::Conns;
use kpoll_bench::loops::{KpollLoop, MioLoop, PollingLoop};
use kpoll_bench::measure::{human_ns, median, ns_since, percentile, ratio};
use kpoll_bench::raw::{raw_wake, RawEpoll, RawWake};

/// What "no slower" allows for the noise of a shared two-core machine.
const NOISE: f64 = 1.05;

const KPOLL_BACKENDS: &[Backend] = &[Backend::Epoll, Backend::Poll, Backend::Select];

/// The C loops: binary, method, label.
const C_LOOPS: &[(&str, &str, &str)] = &[
    ("raw_epoll", "epoll", "raw-c/epoll"),
    ("raw_poll", "poll", "raw-c/poll"),
    ("raw_select", "select", "raw-c/select"),
    ("kpoll_loop", "epoll", "kpoll-c/epoll"),
    ("kpoll_loop", "poll", "kpoll-c/poll"),
    ("kpoll_loop", "select", "kpoll-c/select"),
    ("libevent_loop", "epoll", "libevent/epoll"),
    ("libevent_loop", "poll", "libevent/poll"),
    ("libev_loop", "epoll", "libev/epoll"),
    ("libev_loop", "poll", "libev/poll"),
];

/// The ratios printed for every configuration: (numerator, denominator).
const PAIRS: &[(&str, &str)] = &[
    ("kpoll/epoll", "raw-c/epoll"),
    ("kpoll/poll", "raw-c/poll"),
    ("kpoll/select", "raw-c/select"),
    ("kpoll/epoll", "raw-rs/epoll"),
    ("raw-rs/epoll", "raw-c/epoll"),
    ("kpoll-c/epoll", "raw-c/epoll"),
    ("kpoll-c/poll", "raw-c/poll"),
    ("kpoll-c/select", "raw-c/select"),
    ("kpoll/epoll", "libevent/epoll"),
    ("kpoll/epoll", "libev/epoll"),
    ("kpoll/poll", "libevent/poll"),
    ("kpoll/poll", "libev/poll"),
    ("kpoll/epoll", "mio"),
    ("kpoll/epoll", "polling"),
];

struct Options {
    c_dir: PathBuf,
    erlang_ebin: Option<PathBuf>,
    smoke: bool,
}

/// One implementation's result on one configuration.
#[derive(Clone, Debug)]
struct Row {
    wall_per_event: f64,
    cpu_per_event: f64,
    waits: f64,
    heap_per_fd: Option<f64>,
    allocations_per_wait: Option<f64>,
    /// The slowest pass's median CPU time over the fastest's: how much the
    /// same loop moved from pass to pass, the noise of the machine.
    spread: f64,
    /// CPU time per event of the quickest round: the least disturbed one.
    best_cpu_per_event: f64,
}

/// Which figure of a row a table or a goal looks at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Metric {
    Wall,
    Cpu,
    BestCpu,
}

impl Metric {
    const ALL: [Metric; 3] = [Metric::Wall, Metric::Cpu, Metric::BestCpu];

    fn of(self, row: &Row) -> f64 {
        match self {
            Metric::Wall => row.wall_per_event,
            Metric::Cpu => row.cpu_per_event,
            Metric::BestCpu => row.best_cpu_per_event,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Metric::Wall => "wall",
            Metric::Cpu => "CPU",
            Metric::BestCpu => "best-round CPU",
        }
    }
}

/// (N, A) -> label -> row.
type Results = BTreeMap<(usize, usize), BTreeMap<String, Row>>;

fn main() -> ExitCode {
    let mut opts = Options {
        c_dir: PathBuf::from("target/bench-c"),
        erlang_ebin: None,
        smoke: false,
    };
    let mut args = std::env::args().skip(1);
    if let Some(code) = echo_clients_mode() {
        return code;
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => opts.smoke = true,
            "--c-dir" => match args.next() {
                Some(dir) => opts.c_dir = PathBuf::from(dir),
                None => return usage(),
            },
            "--erlang-ebin" => match args.next() {
                Some(dir) => opts.erlang_ebin = Some(PathBuf::from(dir)),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nkpoll-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves as the TCP clients of the Erlang benchmark when asked to.
fn echo_clients_mode() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(kpoll_bench::conns::ECHO_CLIENTS_ARG) {
        return None;
    }
    let port = args.get(1).and_then(|p| p.parse().ok());
    let n = args.get(2).and_then(|n| n.parse().ok());
    let (Some(port), Some(n)) = (port, n) else {
        return Some(usage());
    };
    Some(match kpoll_bench::conns::echo_clients_main(port, n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kpoll-bench echo clients: {e}");
            ExitCode::FAILURE
        }
    })
}

fn usage() -> ExitCode {
    eprintln!("usage: kpoll-bench [--c-dir DIR] [--erlang-ebin DIR] [--smoke]");
    ExitCode::from(2)
}

fn run(opts: &Options) -> io::Result<()> {
    println!("# kpoll bench");
    println!();
    println!("machine: {}", kpoll_bench::machine());
    let results = workload_section(opts)?;
    summary_section(&results);
    ratio_section(&results);
    let reg = registration_section(opts)?;
    let wake = wake_section(opts)?;
    memory_section(opts, &results)?;
    goals_section(&results);
    let erlang = erlang_section(opts)?;
    sanity(&results, &reg, &wake)?;
    if erlang
        .iter()
        .any(|(_, wall, _)| !(wall.is_finite() && *wall > 0.0))
    {
        return Err(io::Error::other(format!(
            "implausible Erlang results: {erlang:?}"
        )));
    }
    Ok(())
}

fn configs(smoke: bool) -> Vec<(usize, usize)> {
    if smoke {
        vec![(100, 1), (400, 1), (100, 100)]
    } else {
        vec![
            (100, 1),
            (1000, 1),
            (9900, 1),
            (100, 100),
            (1000, 100),
            (9900, 100),
        ]
    }
}

/// Passes over all loops, and timed rounds per loop per pass: a burst of
/// load from elsewhere then hits every loop alike, not one of them.
fn passes(smoke: bool) -> (usize, usize) {
    if smoke {
        (1, 3)
    } else {
        (5, 5)
    }
}

/// Shows what runs now, on one line of a terminal; nothing elsewhere.
fn progress(what: &str) {
    if io::stderr().is_terminal() {
        eprint!("\r{:70}\r{what}", "");
    }
}

/// Clears the progress line.
fn progress_done() {
    if io::stderr().is_terminal() {
        progress_done();
    }
}

/// One loop under test on the workload.
#[derive(Clone, Copy)]
enum Contender {
    Kpoll(Backend),
    Mio,
    Polling,
    RawRust,
    C(&'static str, &'static str, &'static str),
}

impl Contender {
    fn label(self) -> String {
        match self {
            Contender::Kpoll(b) => format!("kpoll/{}", b.name()),
            Contender::Mio => "mio".into(),
            Contender::Polling => "polling".into(),
            Contender::RawRust => "raw-rs/epoll".into(),
            Contender::C(_, _, label) => label.into(),
        }
    }

    /// Runs `workload.max_rounds` timed rounds.
    fn run(self, opts: &Options, conns: &Conns, workload: &Workload) -> io::Result<RunStats> {
        match self {
            Contender::Kpoll(b) => run_loop(KpollLoop::new(b)?, conns, workload),
            Contender::Mio => run_loop(MioLoop::new()?, conns, workload),
            Contender::Polling => run_loop(PollingLoop::new()?, conns, workload),
            Contender::RawRust => run_loop(RawEpoll::new()?, conns, workload),
            Contender::C(bin, method, _) => {
                run_c(&opts.c_dir.join(bin), method, conns.len(), workload)
            }
        }
    }
}

fn contenders(opts: &Options) -> Vec<Contender> {
    let mut all: Vec<Contender> = KPOLL_BACKENDS
        .iter()
        .filter(|b| b.is_supported())
        .map(|&b| Contender::Kpoll(b))
        .collect();
    all.extend([Contender::Mio, Contender::Polling, Contender::RawRust]);
    for &(bin, method, label) in C_LOOPS {
        if opts.c_dir.join(bin).exists() {
            all.push(Contender::C(bin, method, label));
        }
    }
    all
}

/// Pools the runs of one loop: medians over all their rounds.
fn pool(runs: &[RunStats]) -> Row {
    let mut walls: Vec<u64> = runs.iter().flat_map(|r| r.wall_samples.clone()).collect();
    let mut cpus: Vec<u64> = runs.iter().flat_map(|r| r.cpu_samples.clone()).collect();
    let events = runs.first().map_or(1, |r| r.events.max(1)) as f64;
    let waits: u64 = runs.iter().map(|r| r.total_waits).sum();
    let rounds: usize = runs.iter().map(|r| r.rounds).sum();
    let allocations: u64 = runs.iter().map(|r| r.allocations).sum();
    let counted = runs.iter().all(|r| r.heap_per_fd.is_none());
    let pass_cpu = runs.iter().map(|r| r.cpu_ns as f64);
    let spread = ratio(
        pass_cpu.clone().fold(0.0, f64::max),
        pass_cpu.fold(f64::INFINITY, f64::min),
    );
    let best = cpus.iter().copied().min().unwrap_or(0);
    Row {
        spread,
        best_cpu_per_event: best as f64 / events,
        wall_per_event: median(&mut walls) as f64 / events,
        cpu_per_event: median(&mut cpus) as f64 / events,
        waits: waits as f64 / rounds.max(1) as f64,
        heap_per_fd: runs.first().and_then(|r| r.heap_per_fd),
        allocations_per_wait: counted.then(|| allocations as f64 / waits.max(1) as f64),
    }
}

fn workload_section(opts: &Options) -> io::Result<Results> {
    let (passes, rounds) = passes(opts.smoke);
    let contenders = contenders(opts);
    let mut results = Results::new();
    println!();
    println!("## Chained writes (libevent's bench.c workload)");
    println!();
    println!(
        "N socketpairs, A active, W = max(100, 10 A) chained writes per round; {passes} \
         interleaved passes of {rounds} rounds per loop, median over all {} rounds; \
         time per event = dispatch-loop time / (A + W).",
        passes * rounds
    );

    for (n, active) in configs(opts.smoke) {
        let mut workload = Workload::new(active);
        workload.min_rounds = rounds;
        workload.max_rounds = rounds;
        let conns = Conns::socketpairs(n)?;
        let mut runs: Vec<Vec<RunStats>> = vec![Vec::new(); contenders.len()];

        // Each pass starts one loop further on, so that no loop always
        // runs first or last.
        for pass in 0..passes {
            for k in 0..contenders.len() {
                let i = (k + pass) % contenders.len();
                let c = contenders[i];
                progress(&format!(
                    "N={n} A={active} pass {}/{passes} {}",
                    pass + 1,
                    c.label()
                ));
                runs[i].push(c.run(opts, &conns, &workload)?);
            }
        }
        progress_done();
        drop(conns);

        let rows: BTreeMap<String, Row> = contenders
            .iter()
            .zip(&runs)
            .map(|(c, r)| (c.label(), pool(r)))
            .collect();
        print_rows(n, &workload, &rows);
        results.insert((n, active), rows);
    }
    let missing: Vec<&str> = C_LOOPS
        .iter()
        .filter(|(bin, _, _)| !opts.c_dir.join(bin).exists())
        .map(|&(_, _, label)| label)
        .collect();
    if !missing.is_empty() {
        println!("\nnot built, so not run: {}", missing.join(", "));
    }
    Ok(results)
}

fn run_loop<L: EventLoop>(mut lp: L, conns: &Conns, workload: &Workload) -> io::Result<RunStats> {
    lp.register_all(&conns.rd)?;
    let stats = chain::run(&mut lp, conns, workload)?;
    lp.deregister_all(&conns.rd)?;
    Ok(stats)
}

/// Runs one C loop and parses its `key=value` line.
fn run_c(path: &Path, method: &str, n: usize, workload: &Workload) -> io::Result<RunStats> {
    let out = Command::new(path)
        .args(["-n", &n.to_string(), "-a", &workload.active.to_string()])
        .args(["-w", &workload.writes.to_string()])
        .args(["-r", &workload.max_rounds.to_string(), "-m", method])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(io::Error::other(format!(
            "{} -m {method}: {err}",
            path.display()
        )));
    }
    let fields: BTreeMap<&str, &str> = text
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let bad = |k: &str| io::Error::new(ErrorKind::InvalidData, format!("bad {k} in: {text}"));
    let num = |k: &str| -> io::Result<f64> {
        fields
            .get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(k))
    };
    let list = |k: &str| -> io::Result<Vec<u64>> {
        let v = fields.get(k).ok_or_else(|| bad(k))?;
        v.split(',')
            .map(|x| x.parse().map_err(|_| bad(k)))
            .collect()
    };
    let rounds = workload.max_rounds;
    let waits = num("waits")? as u64;
    Ok(RunStats {
        wall_ns: num("wall_ns")? as u64,
        cpu_ns: num("cpu_ns")? as u64,
        events: num("events")? as u64,
        waits: waits as f64,
        rounds,
        allocations: 0,
        total_waits: waits * rounds as u64,
        wall_samples: list("wall_samples")?,
        cpu_samples: list("cpu_samples")?,
        heap_per_fd: Some(num("heap_per_fd")?),
    })
}

fn print_rows(n: usize, workload: &Workload, rows: &BTreeMap<String, Row>) {
    println!();
    println!(
        "### N = {n}, A = {}, W = {}",
        workload.active, workload.writes
    );
    println!();
    println!("| loop | wall / event | CPU / event | waits / round | CPU spread over passes |");
    println!("|---|---:|---:|---:|---:|");
    for (label, row) in rows {
        println!(
            "| {label} | {} | {} | {:.0} | {:.2} |",
            human_ns(row.wall_per_event),
            human_ns(row.cpu_per_event),
            row.waits,
            row.spread
        );
    }
}

/// Every loop's CPU time per event, one column per configuration.
fn summary_section(results: &Results) {
    println!();
    println!("## Summary: CPU time per event (median over all rounds)");
    println!();
    let mut header = "| loop |".to_string();
    let mut rule = "|---|".to_string();
    for (n, a) in results.keys() {
        header.push_str(&format!(" N={n} A={a} |"));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    let mut labels: Vec<&String> = results.values().flat_map(|r| r.keys()).collect();
    labels.sort_by_key(|l| {
        (
            l.split('/').nth(1).unwrap_or("epoll").to_string(),
            l.to_string(),
        )
    });
    labels.dedup();
    for label in labels {
        let cells: Vec<String> = results
            .values()
            .map(|rows| {
                rows.get(label)
                    .map_or("-".to_string(), |r| human_ns(r.cpu_per_event))
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

fn ratio_section(results: &Results) {
    for metric in Metric::ALL {
        let what = match metric {
            Metric::Wall => "median wall-clock",
            Metric::Cpu => "median CPU",
            Metric::BestCpu => "best-round CPU",
        };
        println!();
        println!("## Ratios, pair by pair: {what} time per event (below 1: the first is faster)");
        println!();
        println!(
            "raw-rs/epoll / raw-c/epoll is the same syscalls from two languages: how far it \
             strays from 1 is how far this run's ratios can be trusted."
        );
        println!();
        let mut header = "| pair |".to_string();
        let mut rule = "|---|".to_string();
        for (n, a) in results.keys() {
            header.push_str(&format!(" N={n} A={a} |"));
            rule.push_str("---:|");
        }
        println!("{header}\n{rule}");
        for &(num, den) in PAIRS {
            let cells: Vec<String> = results
                .values()
                .map(|rows| match (rows.get(num), rows.get(den)) {
                    (Some(a), Some(b)) => format!("{:.2}", ratio(metric.of(a), metric.of(b))),
                    _ => "-".to_string(),
                })
                .collect();
            if cells.iter().any(|c| c != "-") {
                println!("| {num} / {den} | {} |", cells.join(" | "));
            }
        }
    }
}

/// Registers and deregisters `fds` on `lp`, `reps` times; ns per pair.
fn reg_cost<L: EventLoop>(mut lp: L, fds: &[RawFd], reps: usize) -> io::Result<Vec<u64>> {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        lp.register_all(fds)?;
        lp.deregister_all(fds)?;
        samples.push(ns_since(t0) / fds.len() as u64);
    }
    Ok(samples)
}

fn registration_section(opts: &Options) -> io::Result<Vec<(String, f64)>> {
    let n = if opts.smoke { 200 } else { 9900 };
    let (passes, reps) = if opts.smoke { (1, 3) } else { (5, 5) };
    let conns = Conns::socketpairs(n)?;
    let fds = &conns.rd;
    let mut who = vec![Contender::RawRust];
    who.extend(
        KPOLL_BACKENDS
            .iter()
            .filter(|b| b.is_supported())
            .map(|&b| Contender::Kpoll(b)),
    );
    who.extend([Contender::Mio, Contender::Polling]);

    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); who.len()];
    for pass in 0..passes {
        for k in 0..who.len() {
            let i = (k + pass) % who.len();
            progress(&format!(
                "register + deregister, pass {}/{passes}: {}",
                pass + 1,
                who[i].label()
            ));
            samples[i].extend(match who[i] {
                Contender::Kpoll(b) => reg_cost(KpollLoop::new(b)?, fds, reps)?,
                Contender::Mio => reg_cost(MioLoop::new()?, fds, reps)?,
                Contender::Polling => reg_cost(PollingLoop::new()?, fds, reps)?,
                _ => reg_cost(RawEpoll::new()?, fds, reps)?,
            });
        }
    }
    progress_done();
    let rows: Vec<(String, f64)> = who
        .iter()
        .zip(&mut samples)
        .map(|(c, s)| {
            let label = if matches!(c, Contender::RawRust) {
                "raw epoll_ctl".into()
            } else {
                c.label()
            };
            (label, median(s) as f64)
        })
        .collect();

    println!();
    println!(
        "## Register + deregister ({n} fds; median of {} runs, {passes} interleaved passes)",
        passes * reps
    );
    println!();
    println!("| loop | ns per register + deregister | vs raw epoll_ctl |");
    println!("|---|---:|---:|");
    let floor = rows[0].1;
    for (label, ns) in &rows {
        println!("| {label} | {ns:.0} | {:.2} |", ratio(*ns, floor));
    }
    Ok(rows)
}

/// Makes a fresh [`WakePair`].
type MakeWakePair = Box<dyn Fn() -> io::Result<WakePair>>;

/// What a wake-latency run needs: a blocking wait and a wake from afar.
struct WakePair {
    wait: Box<dyn FnMut() -> io::Result<()> + Send>,
    wake: Box<dyn Fn() -> io::Result<()> + Send + Sync>,
}

/// Nanoseconds from each wake to the wait's return.
fn wake_latency(pair: WakePair, iterations: usize) -> io::Result<Vec<u64>> {
    let WakePair { mut wait, wake } = pair;
    let base = Instant::now();
    let returned_at = Arc::new(AtomicU64::new(0));
    let returns = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    // The waiter: wait, stamp the return, go back to waiting.
    let waiter = {
        let (returned_at, returns, stop) = (returned_at.clone(), returns.clone(), stop.clone());
        std::thread::spawn(move || -> io::Result<()> {
            pin_to_cpu(1);
            loop {
                wait()?;
                returned_at.store(ns_since(base), Ordering::Release);
                returns.fetch_add(1, Ordering::AcqRel);
                if stop.load(Ordering::Acquire) {
                    return Ok(());
                }
            }
        })
    };

    // The waker on one core, the waiter on the other: a wake crosses
    // cores, as it does between an event loop and its worker threads.
    pin_to_cpu(0);
    // The first wakes warm the path up (the idle governor learns the
    // rhythm, caches fill) and are not kept.
    let warm_up = 100;
    let mut samples = Vec::with_capacity(iterations + warm_up);
    for i in 0..(iterations + warm_up) as u64 {
        // Give the waiter time to block again in the kernel.
        std::thread::sleep(Duration::from_micros(50));
        let sent = ns_since(base);
        wake()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while returns.load(Ordering::Acquire) <= i {
            if Instant::now() > deadline {
                return Err(io::Error::new(ErrorKind::TimedOut, "a wake was lost"));
            }
            std::thread::yield_now();
        }
        samples.push(returned_at.load(Ordering::Acquire).saturating_sub(sent));
    }

    stop.store(true, Ordering::Release);
    wake()?;
    waiter
        .join()
        .map_err(|_| io::Error::other("waiter panicked"))??;
    unpin();
    samples.drain(..warm_up);
    Ok(samples)
}

/// Binds the calling thread to `cpu`, when the machine has that many.
fn pin_to_cpu(cpu: usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return;
    }
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t and `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu % cores, &mut set) };
    // SAFETY: pid 0 is this thread; `set` is valid for its size. A failure
    // only leaves the thread unpinned.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
}

/// Lets the calling thread run on every core again.
fn unpin() {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for cpu in 0..cores {
        // SAFETY: `set` is a valid cpu_set_t and `cpu` is below the count.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is this thread; `set` is valid for its size.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
}

fn kpoll_wake_pair(backend: Backend) -> io::Result<WakePair> {
    let poller = Arc::new(kpoll::Poller::with_backend(backend)?);
    let waiter = poller.clone();
    let mut events = kpoll::Events::with_capacity(16);
    Ok(WakePair {
        wait: Box::new(move || waiter.wait(&mut events, None).map(drop)),
        wake: Box::new(move || poller.wake()),
    })
}

fn mio_wake_pair() -> io::Result<WakePair> {
    let mut poll = mio::Poll::new()?;
    let waker = mio::Waker::new(poll.registry(), mio::Token(0))?;
    let mut events = mio::Events::with_capacity(16);
    Ok(WakePair {
        wait: Box::new(move || poll.poll(&mut events, None)),
        wake: Box::new(move || waker.wake()),
    })
}

fn polling_wake_pair() -> io::Result<WakePair> {
    let poller = Arc::new(polling::Poller::new()?);
    let waiter = poller.clone();
    let mut events = polling::Events::new();
    Ok(WakePair {
        wait: Box::new(move || {
            events.clear();
            waiter.wait(&mut events, None).map(drop)
        }),
        wake: Box::new(move || poller.notify()),
    })
}

fn raw_wake_pair() -> io::Result<WakePair> {
    let mut raw = RawWake::new()?;
    let efd = raw.waker();
    // The eventfd lives as long as `raw`, which the waiter owns; the waker
    // is only used while the waiter runs.
    Ok(WakePair {
        wait: Box::new(move || raw.wait()),
        wake: Box::new(move || raw_wake(efd)),
    })
}

fn wake_section(opts: &Options) -> io::Result<Vec<(String, (u64, u64))>> {
    let (passes, iterations) = if opts.smoke { (1, 200) } else { (5, 1000) };
    let mut makers: Vec<(String, MakeWakePair)> =
        vec![("raw eventfd + epoll".into(), Box::new(raw_wake_pair))];
    for &b in KPOLL_BACKENDS.iter().filter(|b| b.is_supported()) {
        makers.push((
            format!("kpoll/{}", b.name()),
            Box::new(move || kpoll_wake_pair(b)),
        ));
    }
    makers.push(("mio Waker".into(), Box::new(mio_wake_pair)));
    makers.push(("polling notify".into(), Box::new(polling_wake_pair)));

    // Whichever runs first in the process is slow (the cores settle into
    // the rhythm), so one run is thrown away; then interleaved passes.
    wake_latency(makers[0].1()?, iterations)?;
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); makers.len()];
    for pass in 0..passes {
        for k in 0..makers.len() {
            let i = (k + pass) % makers.len();
            progress(&format!(
                "wake latency, pass {}/{passes}: {}",
                pass + 1,
                makers[i].0
            ));
            samples[i].extend(wake_latency(makers[i].1()?, iterations)?);
        }
    }
    progress_done();
    let rows: Vec<(String, (u64, u64))> = makers
        .iter()
        .zip(&mut samples)
        .map(|((label, _), s)| (label.clone(), (median(s), percentile(s, 0.99))))
        .collect();

    println!();
    println!(
        "## Wake to return ({} wakes each, {passes} interleaved passes, each wake into a \
         blocked wait)",
        passes * iterations
    );
    println!();
    println!("| loop | median | p99 | median vs raw |");
    println!("|---|---:|---:|---:|");
    let floor = rows[0].1 .0 as f64;
    for (label, (med, p99)) in &rows {
        println!(
            "| {label} | {} | {} | {:.2} |",
            human_ns(*med as f64),
            human_ns(*p99 as f64),
            ratio(*med as f64, floor)
        );
    }
    Ok(rows)
}

/// Heap bytes per registration, after one wait, so lazy buffers count.
fn heap_per_fd<L: EventLoop>(
    make: impl FnOnce() -> io::Result<L>,
    conns: &Conns,
) -> io::Result<f64> {
    let before = alloc::live_bytes();
    let mut lp = make()?;
    lp.register_all(&conns.rd)?;
    // One ready fd, so that the wait returns at once.
    // SAFETY: one byte from a static; the fd is open while `conns` lives.
    unsafe { libc::write(conns.wr[0], b"m".as_ptr().cast(), 1) };
    lp.wait_dispatch(|_| ())?;
    let after = alloc::live_bytes();
    let mut byte = [0u8; 1];
    // SAFETY: one writable byte; the fd is open while `conns` lives.
    unsafe { libc::read(conns.rd[0], byte.as_mut_ptr().cast(), 1) };
    lp.deregister_all(&conns.rd)?;
    Ok((after as f64 - before as f64) / conns.len() as f64)
}

fn memory_section(opts: &Options, results: &Results) -> io::Result<()> {
    let n = if opts.smoke { 200 } else { 9900 };
    let conns = Conns::socketpairs(n)?;
    let mut rows = Vec::new();
    for &b in KPOLL_BACKENDS.iter().filter(|b| b.is_supported()) {
        rows.push((
            format!("kpoll/{}", b.name()),
            heap_per_fd(|| KpollLoop::new(b), &conns)?,
        ));
    }
    rows.push(("mio".into(), heap_per_fd(MioLoop::new, &conns)?));
    rows.push(("polling".into(), heap_per_fd(PollingLoop::new, &conns)?));
    rows.push(("raw-rs/epoll".into(), heap_per_fd(RawEpoll::new, &conns)?));

    println!();
    println!("## User-space memory per registered fd ({n} fds)");
    println!();
    println!(
        "Rust loops: live heap bytes (counting allocator) after registering and one wait, \
         per fd, fixed buffers included. C loops: mallinfo2 growth across registration, \
         at the largest N of the workload. Kernel memory (epoll's own per-fd entries) is \
         not counted."
    );
    println!();
    println!("| loop | bytes per fd |");
    println!("|---|---:|");
    for (label, bytes) in &rows {
        println!("| {label} | {bytes:.1} |");
    }
    if let Some(rows) = results.iter().rev().map(|(_, r)| r).next() {
        for (label, row) in rows {
            if let Some(bytes) = row.heap_per_fd {
                println!("| {label} | {bytes:.1} |");
            }
        }
    }

    println!();
    println!("## Heap allocations per wait, in the timed dispatch loops");
    println!();
    println!("| loop | most allocations per wait, over all configurations |");
    println!("|---|---:|");
    let mut labels: Vec<&String> = results.values().flat_map(|r| r.keys()).collect();
    labels.sort();
    labels.dedup();
    for label in labels {
        let worst = results
            .values()
            .filter_map(|r| r.get(label).and_then(|row| row.allocations_per_wait))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if let Some(worst) = worst {
            println!("| {label} | {worst:.3} |");
        }
    }
    Ok(())
}

/// A per-event cost of one loop at one configuration.
fn cost(results: &Results, key: (usize, usize), label: &str, metric: Metric) -> Option<f64> {
    Some(metric.of(results.get(&key)?.get(label)?))
}

fn goals_section(results: &Results) {
    println!();
    println!("## Goals");
    println!();
    println!(
        "Judged on median wall-clock, median CPU and best-round CPU time per event; the \
         worst configuration is shown. \"No slower\" allows {:.0}% for noise.",
        (NOISE - 1.0) * 100.0
    );
    println!();
    let keys: Vec<(usize, usize)> = results.keys().copied().collect();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };

    // Within a margin of a floor, at every configuration.
    let worst = |num: &str, den: &str, metric: Metric| -> Option<(f64, (usize, usize))> {
        keys.iter()
            .filter_map(|&k| {
                Some((
                    ratio(
                        cost(results, k, num, metric)?,
                        cost(results, k, den, metric)?,
                    ),
                    k,
                ))
            })
            .reduce(|x, y| if y.0 > x.0 { y } else { x })
    };
    let goals: &[(&str, &str, f64)] = &[
        ("kpoll/epoll", "raw-c/epoll", 1.10),
        ("kpoll/poll", "raw-c/poll", 1.10),
        ("kpoll/select", "raw-c/select", 1.10),
        ("kpoll/epoll", "libevent/epoll", NOISE),
        ("kpoll/epoll", "libev/epoll", NOISE),
        ("kpoll-c/epoll", "raw-c/epoll", 1.10),
    ];
    for &(num, den, bound) in goals {
        let what = if bound == NOISE {
            format!("{num} no slower than {den}")
        } else {
            format!("{num} within {:.0}% of {den}", (bound - 1.0) * 100.0)
        };
        let judge = |metric: Metric| match worst(num, den, metric) {
            Some((r, (n, a))) => format!(
                "{} {} ({r:.2} at N={n} A={a})",
                metric.name(),
                verdict(r <= bound)
            ),
            None => format!("{} not measured", metric.name()),
        };
        let verdicts: Vec<String> = Metric::ALL.into_iter().map(judge).collect();
        println!("- {what}: {}", verdicts.join("; "));
    }

    // How the cost moves with N, beside the raw floor's own growth.
    let ns: Vec<usize> = keys.iter().map(|k| k.0).collect();
    let (lo, hi) = (ns.iter().min().copied(), ns.iter().max().copied());
    let mut actives: Vec<usize> = keys.iter().map(|k| k.1).collect();
    actives.sort_unstable();
    actives.dedup();
    if let Some((lo, hi)) = lo.zip(hi).filter(|(lo, hi)| lo < hi) {
        for &a in &actives {
            let growth = |label: &str, metric: Metric| {
                Some(
                    cost(results, (hi, a), label, metric)? / cost(results, (lo, a), label, metric)?,
                )
            };
            let show = |label: &str, ok: fn(f64) -> bool| {
                let part = |metric: Metric| match growth(label, metric) {
                    Some(g) => format!("{} {} ({g:.2}x)", metric.name(), verdict(ok(g))),
                    None => format!("{} not measured", metric.name()),
                };
                Metric::ALL.map(part).join("; ")
            };
            let floor = |label: &str| {
                let g = |metric: Metric| {
                    let g = growth(label, metric).map_or("-".to_string(), |g| format!("{g:.2}x"));
                    format!("{} {g}", metric.name())
                };
                format!("{label} itself: {}", Metric::ALL.map(g).join(", "))
            };
            if growth("kpoll/epoll", Metric::Wall).is_none() {
                continue;
            }
            println!(
                "- kpoll/epoll at N={hi} within 1.5x of N={lo} (A={a}): {} [{}]",
                show("kpoll/epoll", |g| g <= 1.5),
                floor("raw-c/epoll")
            );
            println!(
                "- kpoll/poll grows with N (A={a}): {} [{}]",
                show("kpoll/poll", |g| g > 1.0),
                floor("raw-c/poll")
            );
        }
    }

    let allocs = results
        .values()
        .flat_map(|r| r.iter())
        .filter(|(l, _)| l.starts_with("kpoll/"))
        .filter_map(|(_, r)| r.allocations_per_wait)
        .fold(0.0, f64::max);
    println!(
        "- no allocation per wait in kpoll: {} ({allocs} per wait at most)",
        verdict(allocs == 0.0)
    );
}

/// The Erlang comparison: socket's nowait select messages, the kpoll NIF's
/// `activate/1` and the port driver on one set of TCP connections whose
/// clients are this binary, run as `--echo-clients`.
fn erlang_section(opts: &Options) -> io::Result<Vec<(String, f64, f64)>> {
    println!();
    println!("## Erlang: socket nowait vs the kpoll NIF vs the kpoll port driver");
    println!();
    let Some(ebin) = &opts.erlang_ebin else {
        println!(
            "Not run: no `--erlang-ebin` (`make bench` passes it when the NIF and the \
             driver build)."
        );
        return Ok(Vec::new());
    };
    let (n, active, writes, rounds, passes) = if opts.smoke {
        (200, 10, 100, 3, 1)
    } else {
        (10_000, 100, 1000, 11, 3)
    };
    let exe = std::env::current_exe()?;

    // Each pass is one BEAM with fresh connections; socket runs last in it.
    let mut pooled: BTreeMap<String, (Vec<u64>, Vec<f64>, f64)> = BTreeMap::new();
    for pass in 0..passes {
        progress(&format!("erlang, pass {}/{passes}", pass + 1));
        let order: &[&str] = if pass % 2 == 0 {
            &["nif", "driver", "socket"]
        } else {
            &["driver", "nif", "socket"]
        };
        let out = Command::new("erl")
            .args(["-noshell", "-pa"])
            .arg(ebin)
            .args(["-run", "kpoll_bench", "main"])
            .arg(&exe)
            .args([n, active, writes, rounds].map(|v| v.to_string()))
            .args(order)
            .output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(io::Error::other(format!("erlang bench failed: {err}")));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let fields: BTreeMap<&str, &str> = line
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let (Some(label), Some(samples), Some(cpu), Some(events)) = (
                fields.get("impl"),
                fields.get("wall_samples"),
                fields.get("cpu_ns").and_then(|v| v.parse::<f64>().ok()),
                fields.get("events").and_then(|v| v.parse::<f64>().ok()),
            ) else {
                continue;
            };
            let entry = pooled.entry(label.to_string()).or_default();
            entry
                .0
                .extend(samples.split(',').filter_map(|v| v.parse::<u64>().ok()));
            entry.1.push(cpu);
            entry.2 = events;
        }
    }
    progress_done();

    let rows: Vec<(String, f64, f64)> = pooled
        .into_iter()
        .map(|(label, (mut walls, cpus, events))| {
            let cpu = cpus.iter().sum::<f64>() / cpus.len().max(1) as f64;
            (label, median(&mut walls) as f64 / events, cpu / events)
        })
        .collect();
    println!(
        "{n} loopback TCP connections (clients in another process, echoing), A = {active}, \
         W = {writes}; {passes} BEAMs of {rounds} rounds each, median round. CPU is the \
         whole BEAM's (statistics(runtime), ms resolution), averaged over the rounds."
    );
    println!();
    println!("| Erlang loop | wall / event | CPU / event | wall vs socket |");
    println!("|---|---:|---:|---:|");
    let socket = rows
        .iter()
        .find(|r| r.0 == "erlang-socket")
        .map_or(f64::NAN, |r| r.1);
    for (label, wall, cpu) in &rows {
        println!(
            "| {label} | {} | {} | {:.2} |",
            human_ns(*wall),
            human_ns(*cpu),
            ratio(*wall, socket)
        );
    }
    if rows.len() < 3 {
        return Err(io::Error::other(format!(
            "Erlang variants missing: {rows:?}"
        )));
    }
    Ok(rows)
}

/// The smoke check: everything ran and gave plausible numbers.
fn sanity(
    results: &Results,
    reg: &[(String, f64)],
    wake: &[(String, (u64, u64))],
) -> io::Result<()> {
    let plausible = |v: f64| v.is_finite() && v > 0.0;
    let mut bad = Vec::new();
    for (key, rows) in results {
        for (label, row) in rows {
            if !plausible(row.wall_per_event) || !row.cpu_per_event.is_finite() || row.waits < 1.0 {
                bad.push(format!("{label} at {key:?}: {row:?}"));
            }
        }
        for label in ["kpoll/epoll", "kpoll/poll", "kpoll/select", "raw-c/epoll"] {
            if !rows.contains_key(label) {
                bad.push(format!("{label} did not run at {key:?}"));
            }
        }
    }
    bad.extend(
        reg.iter()
            .filter(|r| !plausible(r.1))
            .map(|r| format!("register: {r:?}")),
    );
    bad.extend(
        wake.iter()
            .filter(|r| r.1 .0 == 0)
            .map(|r| format!("wake: {r:?}")),
    );
    if bad.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "implausible results:\n{}",
            bad.join("\n")
        )))
    }
}
