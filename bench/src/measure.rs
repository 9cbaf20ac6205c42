//! Clocks and the arithmetic of results.

use std::time::Instant;

/// User plus system CPU time of this process, in nanoseconds.
pub fn cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_SELF needs nothing else.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = ru.ru_utime.tv_sec as u64 + ru.ru_stime.tv_sec as u64;
    let micros = ru.ru_utime.tv_usec as u64 + ru.ru_stime.tv_usec as u64;
    secs * 1_000_000_000 + micros * 1_000
}

/// Nanoseconds since `start`, saturating.
pub fn ns_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The median of `values` (sorted in place); 0 for none.
pub fn median(values: &mut [u64]) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    }
}

/// The value below which `fraction` of the (sorted in place) values lie.
pub fn percentile(values: &mut [u64], fraction: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((values.len() - 1) as f64 * fraction).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// `a / b` as a ratio, or NaN when `b` is zero.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// Formats nanoseconds with a unit that keeps three or four digits.
pub fn human_ns(ns: f64) -> String {
    if !ns.is_finite() {
        "-".to_string()
    } else if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.1} us", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median(&mut []), 0);
    }

    #[test]
    fn percentile_picks_the_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&mut v, 0.99), 99);
        assert_eq!(percentile(&mut v, 0.0), 1);
        assert_eq!(percentile(&mut v, 1.0), 100);
    }

    #[test]
    fn ratio_of_zero_is_not_a_number() {
        assert!(ratio(1.0, 0.0).is_nan());
        assert_eq!(ratio(3.0, 2.0), 1.5);
    }

    #[test]
    fn human_ns_keeps_three_or_four_digits() {
        assert_eq!(human_ns(2795.0), "2795 ns");
        assert_eq!(human_ns(12_500.0), "12.5 us");
        assert_eq!(human_ns(13_700_000.0), "13.7 ms");
        assert_eq!(human_ns(f64::NAN), "-");
    }
}
