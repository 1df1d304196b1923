//! Helpers shared by the benches (each bench includes this module with `mod common;` and uses
//! what it needs).
#![allow(dead_code)]

use std::path::PathBuf;

/// Median and 99th percentile of `samples` (sorted in place; nearest rank).
pub fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

/// Where a bench keeps the data it builds once: `<target dir>/bench-data/<name>-<n>`.
pub fn data_dir(name: &str, n: usize) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    PathBuf::from(target)
        .join("bench-data")
        .join(format!("{name}-{n}"))
}
