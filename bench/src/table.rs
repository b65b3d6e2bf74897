//! The text tables the report and the scenarios' figures print: a labelled row, and
//! percentiles as a cell.

use std::fmt::Write as _;

use crate::phase::Percentiles;

/// One labelled line of a table.
pub fn row(out: &mut String, name: &str, value: String) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "  {name:<34} {value}");
}

/// Percentiles as a table cell.
pub fn percentiles(p: Option<Percentiles>) -> String {
    p.map_or("-".into(), |p| {
        format!(
            "p50 {:.2}  p99 {:.2}  max {:.2}  (n={})",
            p.p50, p.p99, p.max, p.count
        )
    })
}
