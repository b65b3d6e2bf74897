//! PostgreSQL: the bench database (created fresh, dropped after), and the server's version
//! and durability settings for the report.

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::Client;

/// Connects (TLS as the URL's `sslmode` says, as the services do) and drives the connection
/// in the background.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, driver) = warren_shared::db::connect(url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))?;
    tokio::spawn(async move {
        if let Ok(Err(error)) = driver.await {
            eprintln!("warren-bench: PostgreSQL connection ended: {error}");
        }
    });
    Ok(client)
}

/// Creates database `name` on the admin URL's server; returns the URL that reaches it.
pub async fn create(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let client = connect(admin_url).await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .with_context(|| format!("creating database {name}"))?;
    database_url(admin_url, name)
}

/// Drops database `name`, closing whatever still uses it.
pub async fn drop(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let client = connect(admin_url).await?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping database {name}"))
}

/// The admin URL with its database replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url).context("the admin database URL is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Fails only for a URL that cannot hold a password, and this one holds one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The server's version and the settings that decide what a commit costs.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresInfo {
    /// `SELECT version()`.
    pub version: String,
    /// `fsync`.
    pub fsync: String,
    /// `synchronous_commit`.
    pub synchronous_commit: String,
    /// `shared_buffers`.
    pub shared_buffers: String,
    /// `max_connections`.
    pub max_connections: String,
}

impl PostgresInfo {
    /// Asks the server.
    pub async fn read(url: &str) -> anyhow::Result<Self> {
        let client = connect(url).await?;
        let row = client
            .query_one(
                "SELECT version(), current_setting('fsync'), current_setting('synchronous_commit'),
                        current_setting('shared_buffers'), current_setting('max_connections')",
                &[],
            )
            .await
            .context("reading PostgreSQL's version")?;
        Ok(Self {
            version: row.get(0),
            fsync: row.get(1),
            synchronous_commit: row.get(2),
            shared_buffers: row.get(3),
            max_connections: row.get(4),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_keeps_the_server_and_changes_the_database() {
        let url = database_url(
            "postgres://postgres@127.0.0.1:5432/postgres",
            "warren_bench_x",
        )
        .expect("a URL");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/warren_bench_x");
    }

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
