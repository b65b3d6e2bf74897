//! The readiness answer both binaries give on `/readyz`.

use serde_json::{Value, json};

/// The status code, content type and body of `/readyz` for the two dependency checks:
/// 200 when both answer, else 503 problem+json naming what is down.
pub fn readiness(database: bool, broker: bool) -> (u16, &'static str, Value) {
    let word = |up: bool| if up { "up" } else { "down" };
    let checks = json!({"database": word(database), "broker": word(broker)});
    if database && broker {
        return (
            200,
            "application/json",
            json!({"status": "ready", "checks": checks}),
        );
    }
    let down: Vec<&str> = [("database", database), ("broker", broker)]
        .into_iter()
        .filter(|(_, up)| !up)
        .map(|(name, _)| name)
        .collect();
    let problem = json!({
        "type": "urn:warren:problem:unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": format!("not ready: {} down", down.join(" and ")),
        "checks": checks,
    });
    (503, "application/problem+json", problem)
}

/// The `healthcheck <url>` subcommand of both binaries: succeeds when `url` answers 2xx
/// within five seconds.
pub async fn probe(url: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let response = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .with_context(|| format!("requesting {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_down() {
        assert_eq!(readiness(true, true).0, 200);
        let (status, content_type, body) = readiness(true, false);
        assert_eq!((status, content_type), (503, "application/problem+json"));
        assert_eq!(body["detail"], "not ready: broker down");
        assert_eq!(
            readiness(false, false).2["detail"],
            "not ready: database and broker down"
        );
    }
}
