//! Which subscriptions want which events: event-type filters.

/// Whether an event of type `event_type` passes a subscription's filter.
///
/// An empty filter takes every type. A pattern is an exact type (`invoice.paid`) or a prefix
/// ending in `*` (`invoice.*` takes `invoice.paid` and `invoice.line.added`; `*` takes all).
pub fn event_type_matches(filter: &[String], event_type: &str) -> bool {
    filter.is_empty() || filter.iter().any(|p| pattern_matches(p, event_type))
}

fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> Vec<String> {
        patterns.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn an_empty_filter_takes_every_type() {
        assert!(event_type_matches(&[], "anything"));
    }

    #[test]
    fn an_exact_pattern_takes_only_its_type() {
        let f = filter(&["invoice.paid"]);
        assert!(event_type_matches(&f, "invoice.paid"));
        assert!(!event_type_matches(&f, "invoice.paid.late"));
        assert!(!event_type_matches(&f, "invoice"));
    }

    #[test]
    fn a_star_pattern_takes_its_prefix() {
        let f = filter(&["invoice.*", "charge.succeeded"]);
        assert!(event_type_matches(&f, "invoice.paid"));
        assert!(event_type_matches(&f, "charge.succeeded"));
        assert!(!event_type_matches(&f, "customer.created"));
        assert!(event_type_matches(&filter(&["*"]), "customer.created"));
    }
}
