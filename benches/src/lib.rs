//! Shared pieces of Tickwire's benchmark binaries.
//!
//! Every benchmark binary prints a table for people and, with `--json`, one JSON object as
//! its last line, so scripts can take the figures without parsing the table.
#![forbid(unsafe_code)]

pub mod scenes;

use hdrhistogram::Histogram;

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
