//! A fresh, migrated PostgreSQL database per test, dropped at the end.

use warren_shared::config::DatabaseSettings;

/// The server tests create their databases on (`TEST_DATABASE_URL` overrides; it must name
/// a database to connect to for `CREATE DATABASE`).
fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of this test's own.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    host: String,
    port: u16,
    /// The query every URL of it carries (`sslmode=…`), empty for none.
    query: String,
}

/// Debian's snakeoil certificate, which the local PostgreSQL serves (`ssl = on`); it is its
/// own CA, and names `localhost`.
pub const SERVER_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

impl TestDatabase {
    /// Creates and migrates a fresh database.
    pub async fn create() -> Self {
        Self::create_with("").await
    }

    /// Creates and migrates a fresh database whose URLs carry `query` (say
    /// `sslmode=verify-ca&sslrootcert=…`): the migrations, the services and
    /// [`TestDatabase::client`] all connect with it.
    pub async fn create_with(query: &str) -> Self {
        Self::create_up_to(query, None).await
    }

    /// Creates a fresh database migrated up to `version` only (every migration when
    /// `None`): the schema an older Warren left, for tests of the migrations after it.
    pub async fn create_up_to(query: &str, version: Option<i32>) -> Self {
        let name = crate::unique_name("warren_test");
        let client = admin_client().await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating the test database");
        let config = warren_shared::db::tls::target(&admin_url())
            .expect("a PostgreSQL URL")
            .config;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = Self {
            name,
            host,
            port,
            query: query.to_owned(),
        };
        warren_shared::db::migrate_up_to(&database.settings(), version)
            .await
            .expect("migrating the test database");
        database
    }

    /// Settings for a service using this database.
    pub fn settings(&self) -> DatabaseSettings {
        self.settings_via(&format!("{}:{}", self.host, self.port))
    }

    /// Settings reaching this database through another address (a [`crate::proxy::TcpProxy`]).
    pub fn settings_via(&self, host_port: &str) -> DatabaseSettings {
        let query = match self.query.as_str() {
            "" => String::new(),
            query => format!("?{query}"),
        };
        DatabaseSettings {
            url: format!("postgres://postgres@{host_port}/{}{query}", self.name),
            pool_size: 8,
            timeout_ms: 2_000,
            partition_secs: 86_400,
        }
    }

    /// The host and port of the server.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A direct connection, for assertions behind the API.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, _driver) = warren_shared::db::connect(&self.settings().url)
            .await
            .expect("connecting to the test database");
        client
    }
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, _driver) = warren_shared::db::connect(&admin_url())
        .await
        .expect("connecting to PostgreSQL (is it running on 127.0.0.1:5432?)");
    client
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::block_on_thread(async move {
            let client = admin_client().await;
            if let Err(error) = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
            {
                eprintln!("dropping test database {name}: {error}");
            }
        });
    }
}

/// The plan an `EXPLAIN …` statement answers, its lines joined into one text.
pub async fn explained(client: &impl tokio_postgres::GenericClient, explain: &str) -> String {
    client
        .query(explain, &[])
        .await
        .expect("explained")
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}
