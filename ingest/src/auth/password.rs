//! Passwords, hashed with argon2id (the default parameters of the `argon2` crate, which follow
//! OWASP's guidance). Hashing is deliberately slow, so it runs off the async workers.

use std::sync::LazyLock;

use anyhow::Context;
use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};
use tokio::sync::Semaphore;

/// Hashes running at once. Each takes about 19 MiB and a core for tens of milliseconds, so
/// a flood of logins waits its turn here instead of taking every blocking thread and
/// gigabytes of memory.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Semaphore::new(cores * 2)
});

/// Runs an argon2 computation on the blocking pool once a slot is free.
async fn argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let _slot = HASHING
        .acquire()
        .await
        .context("the hashing slots closed")?;
    tokio::task::spawn_blocking(work)
        .await
        .context("the hashing task panicked")
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`).
pub async fn hash(password: String) -> anyhow::Result<String> {
    argon2(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Whether `password` matches the stored PHC string.
pub async fn verify(password: String, stored: String) -> anyhow::Result<bool> {
    argon2(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let stored = hash("correct horse".into()).await.expect("hashes");
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), stored.clone())
                .await
                .expect("runs")
        );
        assert!(!verify("wrong horse".into(), stored).await.expect("runs"));
    }
}
