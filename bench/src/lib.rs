//! The demo and the benchmarks of kpoll.
//!
//! `kpoll-demo` shows what a kernel poll buys: the cost of an event on
//! epoll, poll and select as the number of idle connections grows.
//! `kpoll-bench` sets kpoll beside the raw syscalls, libevent, libev, mio
//! and polling on the same workload, and measures registration, wake
//! latency, memory per registration and allocations per wait.

pub mod alloc;
pub mod chain;
pub mod conns;
pub mod loops;
pub mod measure;
pub mod raw;
pub mod svg;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// One line on the machine a run was made on: cores, CPU model, kernel.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown kernel".to_string());
    format!("{cores} cores, {cpu}, Linux {kernel}")
}
