//! `kpoll-demo`: what kernel polling buys.
//!
//! For N connections from 100 to 9,900, one or a hundred of them active, it
//! times the chained-write workload on each kpoll backend and shows the cost
//! of one event (wall clock and CPU time): flat on epoll, growing with N on
//! poll and select, which hand the kernel every fd on every wait. It runs
//! over socketpairs and over loopback TCP with the clients in a child, and
//! writes a table to stdout and a log-log chart as SVG.
//!
//! Usage: `kpoll-demo [--out DIR] [--smoke]`

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use kpoll::Backend;
use kpoll_bench::chain::{self, EventLoop, RunStats, Workload};
use kpoll_bench::conns::{self, Conns, Transport};
use kpoll_bench::loops::KpollLoop;
use kpoll_bench::measure::human_ns;
use kpoll_bench::svg::{self, Panel, Series};

const FULL_SIZES: &[usize] = &[100, 200, 500, 1000, 2000, 5000, 9900];
const SMOKE_SIZES: &[usize] = &[100, 400];
const ACTIVE: &[usize] = &[1, 100];
const TRANSPORTS: &[Transport] = &[Transport::SocketPair, Transport::Tcp];
const WANTED: &[Backend] = &[Backend::Epoll, Backend::Poll, Backend::Select];

struct Point {
    transport: Transport,
    active: usize,
    n: usize,
    backend: Backend,
    stats: RunStats,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(conns::ECHO_CLIENTS_ARG) {
        return echo_clients(&args[1..]);
    }

    let mut out = PathBuf::from("target/demo");
    let mut smoke = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--out" => match it.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return usage(),
            },
            _ => return usage(),
        }
    }

    match run(&out, smoke) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nkpoll-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: kpoll-demo [--out DIR] [--smoke]");
    ExitCode::from(2)
}

fn echo_clients(args: &[String]) -> ExitCode {
    let port = args.first().and_then(|p| p.parse().ok());
    let n = args.get(1).and_then(|n| n.parse().ok());
    let (Some(port), Some(n)) = (port, n) else {
        return usage();
    };
    match conns::echo_clients_main(port, n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kpoll-demo echo clients: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: &std::path::Path, smoke: bool) -> io::Result<()> {
    let sizes = if smoke { SMOKE_SIZES } else { FULL_SIZES };
    let backends: Vec<Backend> = WANTED
        .iter()
        .copied()
        .filter(|b| b.is_supported())
        .collect();
    println!("kpoll demo: the cost of one event as idle connections pile up");
    println!("machine: {}", kpoll_bench::machine());

    // Every measurement is one point of the table and the chart.
    let total = TRANSPORTS.len() * sizes.len() * ACTIVE.len() * backends.len();
    let mut points = Vec::with_capacity(total);
    for &transport in TRANSPORTS {
        for &n in sizes {
            let conns = Conns::open(transport, n)?;
            for &active in ACTIVE.iter().filter(|&&a| a <= n) {
                let mut workload = Workload::new(active);
                if smoke {
                    workload.min_rounds = 2;
                    workload.max_rounds = 3;
                }
                for &backend in &backends {
                    progress(&format!(
                        "[{:>3}/{total}] {:<10} N={n:<5} active={active:<3} {:<6}   ",
                        points.len() + 1,
                        transport.name(),
                        backend.name()
                    ));
                    let stats = measure(backend, &conns, &workload)?;
                    check(&stats, &workload)?;
                    points.push(Point {
                        transport,
                        active,
                        n,
                        backend,
                        stats,
                    });
                }
            }
        }
    }
    progress("");

    let mut table = table(&points, sizes, &backends);
    table.push_str(&summary(&points, sizes));
    print!("{table}");

    std::fs::create_dir_all(out)?;
    let svg_path = out.join("kpoll-demo.svg");
    std::fs::write(&svg_path, chart(&points, &backends))?;
    std::fs::write(out.join("kpoll-demo.txt"), &table)?;
    println!("chart: {}", svg_path.display());
    io::stdout().flush()
}

/// Shows the step under way on one line of a terminal (stderr, redrawn with
/// a carriage return); nothing when stderr is a file or a pipe.
fn progress(what: &str) {
    if io::stderr().is_terminal() {
        eprint!("\r{:70}\r{what}", "");
    }
}

/// Registers every connection on a fresh poller and runs the workload.
fn measure(backend: Backend, conns: &Conns, workload: &Workload) -> io::Result<RunStats> {
    let mut lp = KpollLoop::new(backend)?;
    lp.register_all(&conns.rd)?;
    chain::run(&mut lp, conns, workload)
}

/// A sane result: every event seen, times positive and finite.
fn check(stats: &RunStats, workload: &Workload) -> io::Result<()> {
    let expected = workload.active as u64 + workload.writes;
    let sane = stats.events == expected
        && stats.wall_ns > 0
        && stats.rounds >= workload.min_rounds
        && stats.wall_per_event().is_finite();
    if sane {
        Ok(())
    } else {
        Err(io::Error::other(format!("implausible result: {stats:?}")))
    }
}

fn table(points: &[Point], sizes: &[usize], backends: &[Backend]) -> String {
    let mut t = String::new();
    for &transport in TRANSPORTS {
        for &active in ACTIVE {
            let writes = Workload::new(active).writes;
            let _ = writeln!(
                t,
                "\n{}, {active} active, {writes} chained writes per round: \
                 time per event, wall clock / CPU",
                transport.name()
            );
            let _ = write!(t, "{:>6}", "N");
            for b in backends {
                let _ = write!(t, " {:>23}", b.name());
            }
            let _ = writeln!(t);
            for &n in sizes.iter().filter(|&&n| n >= active) {
                let _ = write!(t, "{n:>6}");
                for &b in backends {
                    let p = points.iter().find(|p| {
                        p.transport == transport && p.active == active && p.n == n && p.backend == b
                    });
                    let cell = p.map_or("-".to_string(), |p| {
                        format!(
                            "{} / {}",
                            human_ns(p.stats.wall_per_event()),
                            human_ns(p.stats.cpu_per_event())
                        )
                    });
                    let _ = write!(t, " {cell:>23}");
                }
                let _ = writeln!(t);
            }
        }
    }
    t
}

/// One line per panel: how far poll and select fall behind epoll at the
/// largest N.
fn summary(points: &[Point], sizes: &[usize]) -> String {
    let Some(&n) = sizes.last() else {
        return String::new();
    };
    let mut out = format!("\nAt N = {n}, CPU time per event against epoll's:\n");
    for &transport in TRANSPORTS {
        for &active in ACTIVE {
            let cpu = |b: Backend| {
                points
                    .iter()
                    .find(|p| {
                        p.transport == transport && p.active == active && p.n == n && p.backend == b
                    })
                    .map(|p| p.stats.cpu_per_event())
            };
            let Some(epoll) = cpu(Backend::Epoll) else {
                continue;
            };
            let times =
                |b: Backend| cpu(b).map_or("-".to_string(), |c| format!("{:.1}x", c / epoll));
            let _ = writeln!(
                out,
                "  {:<10} {active:>3} active: poll {}, select {}",
                transport.name(),
                times(Backend::Poll),
                times(Backend::Select)
            );
        }
    }
    out
}

fn color(backend: Backend) -> &'static str {
    match backend {
        Backend::Epoll => "#1f77b4",
        Backend::Poll => "#d62728",
        _ => "#2ca02c",
    }
}

fn chart(points: &[Point], backends: &[Backend]) -> String {
    let mut panels = Vec::new();
    for &transport in TRANSPORTS {
        for &active in ACTIVE {
            let mut series = Vec::new();
            for &b in backends {
                let mine = || {
                    points.iter().filter(move |p| {
                        p.transport == transport && p.active == active && p.backend == b
                    })
                };
                series.push(Series {
                    label: format!("{} wall", b.name()),
                    color: color(b),
                    dashed: false,
                    points: mine()
                        .map(|p| (p.n as f64, p.stats.wall_per_event()))
                        .collect(),
                });
                series.push(Series {
                    label: format!("{} CPU", b.name()),
                    color: color(b),
                    dashed: true,
                    points: mine()
                        .map(|p| (p.n as f64, p.stats.cpu_per_event()))
                        .collect(),
                });
            }
            panels.push(Panel {
                title: format!("{}, {active} active", transport.name()),
                series,
            });
        }
    }
    svg::render(
        "kpoll: time per event vs connections (log-log)",
        "connections (N)",
        "time per event",
        ACTIVE.len(),
        &panels,
    )
}
