//! What a failed fault leaves to look at: the deliveries' states, the queues, each
//! process's readiness and the end of its log.

use std::time::Duration;

use anyhow::Context;

use crate::warren::Warren;

/// Log lines of each process a post-mortem shows.
const POST_MORTEM_LOG_LINES: usize = 40;

/// What a failed fault leaves to look at, read before Warren stops: where the deliveries
/// stand in PostgreSQL, what each queue holds and who consumes it, and the end of each
/// process's log. CI keeps only its output, so this is all a failure there leaves behind.
pub(super) async fn post_mortem(warren: &Warren) -> String {
    let mut out = String::new();
    match delivery_states(warren).await {
        Ok(states) => out.push_str(&format!(
            "  deliveries (status, enqueued: count): {states}\n"
        )),
        Err(error) => out.push_str(&format!("  deliveries: not read ({error:#})\n")),
    }
    match warren.queues().await {
        Ok(queues) => {
            for q in queues {
                out.push_str(&format!(
                    "  queue {}: {} messages, {} consumers\n",
                    q.name,
                    q.messages.map_or("?".into(), |n| n.to_string()),
                    q.consumers.map_or("?".into(), |n| n.to_string()),
                ));
            }
        }
        Err(error) => out.push_str(&format!("  queues: not read ({error:#})\n")),
    }
    for url in warren.ready_urls() {
        out.push_str(&format!("  {url}: {}\n", readiness(&url).await));
    }
    for process in warren.figures() {
        out.push_str(&format!("  last lines of {}:\n", process.log));
        let text = std::fs::read_to_string(&process.log).unwrap_or_default();
        // A span's start and end say little; its events and every other line stay.
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| !line.contains(" - START]\"") && !line.contains(" - END]\""))
            .collect();
        for line in &lines[lines.len().saturating_sub(POST_MORTEM_LOG_LINES)..] {
            let line: String = compact_log_line(line).chars().take(400).collect();
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// A process's answer to `/readyz` (which links are up), or why there was none.
async fn readiness(url: &str) -> String {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build();
    let answer = match client {
        Ok(client) => client.get(url).send().await,
        Err(error) => return format!("no client ({error})"),
    };
    match answer {
        Ok(response) => {
            let status = response.status();
            format!("{status} {}", response.text().await.unwrap_or_default())
        }
        Err(error) => format!("no answer ({error})"),
    }
}

/// Counts of the deliveries by status and `enqueued`.
async fn delivery_states(warren: &Warren) -> anyhow::Result<String> {
    let url = warren.database_url.as_deref().context("no database")?;
    let client = crate::database::connect(url).await?;
    let rows = client
        .query(
            "SELECT status::text, enqueued, count(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "{}, {}: {}",
                r.get::<_, String>(0),
                r.get::<_, bool>(1),
                r.get::<_, i64>(2)
            )
        })
        .collect::<Vec<_>>()
        .join("; "))
}

/// A bunyan line as `time target: msg key=value…`, without the fields every line has.
fn compact_log_line(line: &str) -> String {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str(line) else {
        return line.to_owned();
    };
    let mut take = |key: &str| match fields.remove(key) {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let head = format!("{} {}: {}", take("time"), take("target"), take("msg"));
    for key in ["v", "name", "hostname", "pid", "level", "line", "file"] {
        fields.remove(key);
    }
    fields
        .iter()
        .fold(head, |acc, (key, value)| format!("{acc} {key}={value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_mortem_shows_a_log_line_without_the_fields_every_line_has() {
        let line = r#"{"v":0,"name":"warren-deliver","msg":"consumer failed","level":40,"hostname":"vm","pid":7,"time":"2026-12-03T17:10:39.8Z","target":"warren_deliver::worker","line":231,"file":"deliver/src/worker.rs","error":"reset"}"#;
        assert_eq!(
            compact_log_line(line),
            r#"2026-12-03T17:10:39.8Z warren_deliver::worker: consumer failed error="reset""#
        );
        assert_eq!(compact_log_line("not json"), "not json");
    }
}
