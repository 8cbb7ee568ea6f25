//! Shared pieces of Tickwire's benchmark binaries.
//!
//! Every benchmark binary prints a table for people and, with `--json`, one JSON object as
//! its last line, so scripts can take the figures without parsing the table.
#![forbid(unsafe_code)]

pub mod scenes;

use anyhow::Context as _;

use hdrhistogram::Histogram;

/// The runtime a benchmark's live parts run on: two workers, as the server and bots use.
///
/// # Errors
/// If the runtime cannot start.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// When this benchmark was started as its own server child
/// (`tickwire_bot::server_process`), runs that server and returns how it ended; `None` when
/// it was started as the benchmark.
#[must_use]
pub fn serve_if_child() -> Option<anyhow::Result<()>> {
    use tickwire_bot::server_process::{child_sets, serve_sets};
    let sets = child_sets()?;
    Some(runtime().and_then(|rt| rt.block_on(serve_sets(&sets))))
}

/// A histogram of nanosecond timings up to ten seconds, three significant figures.
///
/// # Panics
/// Never: the bounds are constants known to be valid.
#[must_use]
#[allow(clippy::expect_used)] // constant, valid bounds
pub fn timing_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid histogram bounds")
}

/// The value at quantile `q` of a nanosecond histogram, in microseconds.
#[must_use]
pub fn quantile_us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Prints a table: a header row, then one row per entry, columns right-aligned to fit.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .chain(header.get(i).map(|h| h.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("{}", padded.join("  "));
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
