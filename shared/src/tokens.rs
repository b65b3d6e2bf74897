//! Unguessable tokens (sessions, source tokens, API keys) and how they are stored.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random token of 32 bytes (256 bits), URL-safe, after a readable prefix (`wrn_sess_`).
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// How a bearer token is stored: its SHA-256. A token carries 256 random bits, so a fast
/// hash is enough (no dictionary to attack) and lookups stay an index probe.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// SHA-256 of a body, to tell "same idempotency key, same body" from "different body".
pub fn body_hash(body: &[u8]) -> Vec<u8> {
    Sha256::digest(body).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_distinct_and_url_safe() {
        let a = random_token("wrn_sess_");
        let b = random_token("wrn_sess_");
        assert_ne!(a, b);
        assert!(a.starts_with("wrn_sess_"));
        assert_eq!(a.len(), "wrn_sess_".len() + 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }

    #[test]
    fn a_token_hash_is_stable() {
        assert_eq!(token_hash("x"), token_hash("x"));
        assert_ne!(token_hash("x"), token_hash("y"));
    }
}
