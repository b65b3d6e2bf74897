//! The text tables the report and the scenarios' figures print: a line, a labelled row, and
//! percentiles as a cell.

use std::fmt::{self, Write as _};

use crate::phase::Percentiles;

/// Appends `text` and a newline to `out`, as `writeln!` does.
pub fn line(out: &mut String, text: fmt::Arguments<'_>) {
    // Writing to a String cannot fail.
    let _ = out.write_fmt(text);
    out.push('\n');
}

/// One labelled line of a table.
pub fn row(out: &mut String, name: &str, value: String) {
    line(out, format_args!("  {name:<34} {value}"));
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
