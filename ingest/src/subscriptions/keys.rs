//! New signing keys, and what of a key its owner is shown.

use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;
use warren_shared::signing::{SigningAlgorithm, SigningSecret};

use crate::error::{ApiError, Result};

/// RSA keys made at once. A 2048-bit key is a prime search of a tenth of a second or more of
/// one core; one at a time, anyone creating or rotating RSA keys in a loop waits their turn
/// instead of taking every core from the API.
static RSA_GENERATIONS: Semaphore = Semaphore::const_new(1);

/// A fresh key of `algorithm`. RSA keys are made on the blocking pool, one at a time, so
/// the async workers keep answering meanwhile; the others are cheap and made here.
pub async fn generate(algorithm: SigningAlgorithm) -> Result<SigningSecret> {
    if algorithm != SigningAlgorithm::RsaPssSha256 {
        return SigningSecret::generate_for(algorithm).map_err(|e| ApiError::Internal(e.into()));
    }
    let _turn = RSA_GENERATIONS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    tokio::task::spawn_blocking(move || SigningSecret::generate_for(algorithm))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Reads a stored key; one that does not parse is Warren's fault (a 500), never the user's.
pub fn stored(text: &str) -> Result<SigningSecret> {
    SigningSecret::parse(text).map_err(|e| ApiError::Internal(e.into()))
}

/// A signing key as its owner sees it: what receivers verify with. The private keys are
/// never part of it.
#[derive(Serialize, ToSchema)]
pub struct ShownKey {
    /// Which kind of key signs: `hmac_sha256` (`v1`, the default), `hmac_sha512` (`v1s`),
    /// `ed25519` (`v1a`) or `rsa_pss_sha256` (`v1r`).
    signing_algorithm: SigningAlgorithm,
    /// The shared `whsec_` secret receivers verify `v1` and `v1s` signatures with; `null`
    /// for Ed25519 and RSA, whose private keys never leave Warren.
    signing_secret: Option<String>,
    /// What receivers verify `v1a` and `v1r` signatures with: the `whpk_` Ed25519 public
    /// key, or the RSA public key as PEM (`-----BEGIN PUBLIC KEY-----`); `null` for HMAC.
    public_key: Option<String>,
}

impl From<&SigningSecret> for ShownKey {
    fn from(key: &SigningSecret) -> Self {
        Self {
            signing_algorithm: key.algorithm(),
            signing_secret: key.shared_secret().map(str::to_owned),
            public_key: key.public_key(),
        }
    }
}
