//! Standard Webhooks signing. Every signature covers `id.timestamp.body`; a subscription signs
//! with one of four kinds of key (its `signing_algorithm`):
//!
//! - `hmac_sha256` (the default): a symmetric `whsec_` secret, `v1,<base64 HMAC-SHA256>`, the
//!   key being the base64 after the prefix (the standard itself);
//! - `hmac_sha512`: the same `whsec_` encoding, `v1s,<base64 HMAC-SHA512>`; stored as
//!   `hmac_sha512:whsec_…` so the stored text alone says which hash it takes, shown without
//!   that tag;
//! - `ed25519`: a `whsk_` key, `v1a,<base64 Ed25519 signature>`; receivers verify with the
//!   public key, `whpk_<base64>`, which is all they are ever given;
//! - `rsa_pss_sha256`: a `whrsk_<base64 PKCS#8 DER>` 2048-bit key, `v1r,<base64 RSASSA-PSS
//!   signature>` (SHA-256, MGF1-SHA-256, salt 32); receivers are given the public key as PEM.
//!
//! The private keys are stored as they are written here, like the HMAC secrets; only the
//! `whsec_` secrets and the public keys are ever shown.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, Verifier};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

mod rsa_pss;

pub use rsa_pss::GenerateError;
use rsa_pss::RsaPssKey;

const HMAC_PREFIX: &str = "whsec_";
const HMAC_SHA512_TAG: &str = "hmac_sha512:";
const ED25519_PREFIX: &str = "whsk_";
const RSA_PREFIX: &str = "whrsk_";
const PUBLIC_PREFIX: &str = "whpk_";

/// Which kind of key signs a subscription's deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SigningAlgorithm {
    /// `v1`: HMAC-SHA256 with a shared `whsec_` secret.
    #[default]
    HmacSha256,
    /// `v1s`: HMAC-SHA512 with a shared `whsec_` secret.
    HmacSha512,
    /// `v1a`: Ed25519; receivers hold only the `whpk_` public key.
    Ed25519,
    /// `v1r`: RSASSA-PSS with SHA-256 (2048-bit); receivers hold only the PEM public key.
    RsaPssSha256,
}

impl SigningAlgorithm {
    /// The version tag its signatures start with (`v1`, `v1s`, `v1a`, `v1r`).
    pub fn signature_tag(self) -> &'static str {
        match self {
            Self::HmacSha256 => "v1",
            Self::HmacSha512 => "v1s",
            Self::Ed25519 => "v1a",
            Self::RsaPssSha256 => "v1r",
        }
    }
}

/// A subscription's signing key (see the module's documentation for its forms). Never
/// printed by `Debug`.
#[derive(Clone)]
pub struct SigningSecret {
    text: String,
    key: Key,
}

#[derive(Clone)]
enum Key {
    HmacSha256(Vec<u8>),
    HmacSha512(Vec<u8>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
    RsaPss(Box<RsaPssKey>),
}

impl PartialEq for SigningSecret {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SigningSecret {}

/// The text was not a signing key in one of the forms Warren writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a signing secret is `whsec_` followed by base64 (or one of Warren's own key forms: `whsk_`, `whrsk_`, `hmac_sha512:whsec_`)"
)]
pub struct BadSecret;

impl SigningSecret {
    /// A fresh HMAC-SHA256 secret with a 32-byte random key.
    pub fn generate() -> Self {
        let bytes = random_key();
        Self {
            text: format!("{HMAC_PREFIX}{}", STANDARD.encode(bytes)),
            key: Key::HmacSha256(bytes.to_vec()),
        }
    }

    /// A fresh key of the given kind: 32 random bytes for HMAC and Ed25519, a new 2048-bit
    /// key for RSA, which is slow: call it off the async runtime. Fails only if the system's
    /// random source does.
    pub fn generate_for(algorithm: SigningAlgorithm) -> Result<Self, GenerateError> {
        let bytes = random_key();
        let encoded = STANDARD.encode(bytes);
        Ok(match algorithm {
            SigningAlgorithm::HmacSha256 => Self::generate(),
            SigningAlgorithm::HmacSha512 => Self {
                text: format!("{HMAC_SHA512_TAG}{HMAC_PREFIX}{encoded}"),
                key: Key::HmacSha512(bytes.to_vec()),
            },
            SigningAlgorithm::Ed25519 => Self {
                text: format!("{ED25519_PREFIX}{encoded}"),
                key: Key::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&bytes))),
            },
            SigningAlgorithm::RsaPssSha256 => {
                let (der, key) = RsaPssKey::generate()?;
                Self {
                    text: format!("{RSA_PREFIX}{}", STANDARD.encode(der.as_bytes())),
                    key: Key::RsaPss(Box::new(key)),
                }
            }
        })
    }

    /// Parses a stored or user-supplied secret.
    pub fn parse(text: &str) -> Result<Self, BadSecret> {
        let key = if let Some(whsec) = text.strip_prefix(HMAC_SHA512_TAG) {
            Key::HmacSha512(hmac_key(whsec)?)
        } else if text.starts_with(HMAC_PREFIX) {
            Key::HmacSha256(hmac_key(text)?)
        } else if let Some(encoded) = text.strip_prefix(ED25519_PREFIX) {
            let seed: [u8; 32] = STANDARD
                .decode(encoded)
                .map_err(|_| BadSecret)?
                .try_into()
                .map_err(|_| BadSecret)?;
            Key::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
        } else if let Some(encoded) = text.strip_prefix(RSA_PREFIX) {
            let der = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
            Key::RsaPss(Box::new(RsaPssKey::from_der(&der).ok_or(BadSecret)?))
        } else {
            return Err(BadSecret);
        };
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    /// The key as stored (any of the module's forms): what the database holds. Never show
    /// it; [`SigningSecret::shared_secret`] is what receivers are given.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `whsec_` secret receivers verify HMAC signatures with (`v1` or `v1s`); `None`
    /// for Ed25519 and RSA, whose private keys never leave Warren.
    pub fn shared_secret(&self) -> Option<&str> {
        match self.key {
            Key::HmacSha256(_) => Some(&self.text),
            Key::HmacSha512(_) => self.text.strip_prefix(HMAC_SHA512_TAG),
            Key::Ed25519(_) | Key::RsaPss(_) => None,
        }
    }

    /// Which kind of key this is.
    pub fn algorithm(&self) -> SigningAlgorithm {
        match self.key {
            Key::HmacSha256(_) => SigningAlgorithm::HmacSha256,
            Key::HmacSha512(_) => SigningAlgorithm::HmacSha512,
            Key::Ed25519(_) => SigningAlgorithm::Ed25519,
            Key::RsaPss(_) => SigningAlgorithm::RsaPssSha256,
        }
    }

    /// The public key receivers verify with: `whpk_<base64>` for Ed25519, a PEM
    /// `-----BEGIN PUBLIC KEY-----` for RSA; `None` for HMAC.
    pub fn public_key(&self) -> Option<String> {
        match &self.key {
            Key::HmacSha256(_) | Key::HmacSha512(_) => None,
            Key::Ed25519(key) => Some(format!(
                "{PUBLIC_PREFIX}{}",
                STANDARD.encode(key.verifying_key().to_bytes())
            )),
            Key::RsaPss(key) => Some(key.public_pem().to_owned()),
        }
    }

    /// One `<tag>,<base64>` signature of a message (`v1`, `v1s`, `v1a` or `v1r`).
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let signature = match &self.key {
            Key::HmacSha256(key) => mac::<Hmac<Sha256>>(key, msg_id, timestamp, body)
                .finalize()
                .into_bytes()
                .to_vec(),
            Key::HmacSha512(key) => mac::<Hmac<Sha512>>(key, msg_id, timestamp, body)
                .finalize()
                .into_bytes()
                .to_vec(),
            Key::Ed25519(key) => key
                .sign(&signed_content(msg_id, timestamp, body))
                .to_bytes()
                .to_vec(),
            Key::RsaPss(key) => key.sign(signed_prefix(msg_id, timestamp).as_bytes(), body),
        };
        format!(
            "{},{}",
            self.algorithm().signature_tag(),
            STANDARD.encode(signature)
        )
    }

    /// Whether a `webhook-signature` header value (several space-separated signatures) holds
    /// a valid signature by this key. The body is hashed once whatever the header holds, each
    /// HMAC comparison is constant-time, and a header of more than [`MAX_SIGNATURES`] entries
    /// is refused unread, so the work a request can cause is bounded.
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let Some(candidates) = candidates(header) else {
            return false;
        };
        let tag = format!("{},", self.algorithm().signature_tag());
        let mut signatures = candidates.filter_map(|candidate| decoded(candidate, &tag));
        match &self.key {
            Key::HmacSha256(key) => any_tag_matches(
                mac::<Hmac<Sha256>>(key, msg_id, timestamp, body),
                signatures,
            ),
            Key::HmacSha512(key) => any_tag_matches(
                mac::<Hmac<Sha512>>(key, msg_id, timestamp, body),
                signatures,
            ),
            Key::Ed25519(key) => {
                let content = signed_content(msg_id, timestamp, body);
                let verifying = key.verifying_key();
                signatures
                    .filter_map(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
                    .any(|signature| verifying.verify(&content, &signature).is_ok())
            }
            Key::RsaPss(key) => {
                let hash = RsaPssKey::hash(signed_prefix(msg_id, timestamp).as_bytes(), body);
                signatures.any(|signature| key.verify(&hash, &signature))
            }
        }
    }
}

/// 32 bytes from the thread's CSPRNG: an HMAC key or an Ed25519 seed.
fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Whether any candidate is the tag of `signed`, each compared in constant time, all of
/// them compared (no early exit telling which one matched).
fn any_tag_matches<M: Mac + Clone>(signed: M, tags: impl Iterator<Item = Vec<u8>>) -> bool {
    tags.fold(false, |found, tag| {
        signed.clone().verify_slice(&tag).is_ok() | found
    })
}

/// The key bytes of a `whsec_<base64>` secret.
fn hmac_key(whsec: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = whsec.strip_prefix(HMAC_PREFIX).ok_or(BadSecret)?;
    let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
    if key.is_empty() {
        return Err(BadSecret);
    }
    Ok(key)
}

/// The most entries a `webhook-signature` header may hold for it to be checked at all: one
/// per secret of a rotation is a handful, never more.
pub const MAX_SIGNATURES: usize = 16;

/// A header's non-empty entries, or `None` if there are more than [`MAX_SIGNATURES`].
pub fn candidates(header: &str) -> Option<impl Iterator<Item = &str> + Clone> {
    let entries = header.split(' ').filter(|entry| !entry.is_empty());
    (entries.clone().count() <= MAX_SIGNATURES).then_some(entries)
}

fn decoded(candidate: &str, prefix: &str) -> Option<Vec<u8>> {
    STANDARD.decode(candidate.strip_prefix(prefix)?).ok()
}

/// `id.timestamp.`: what precedes the body in every signed message.
fn signed_prefix(msg_id: &str, timestamp: i64) -> String {
    format!("{msg_id}.{timestamp}.")
}

/// The whole signed message, for Ed25519 (which signs it in one piece).
fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    [signed_prefix(msg_id, timestamp).as_bytes(), body].concat()
}

/// The HMAC over the signed message, fed in parts so the body is never copied.
fn mac<M: Mac + KeyInit>(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> M {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(signed_prefix(msg_id, timestamp).as_bytes());
    mac.update(body);
    mac
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = match self.key {
            Key::HmacSha256(_) => "whsec_…",
            Key::HmacSha512(_) => "hmac_sha512:whsec_…",
            Key::Ed25519(_) => "whsk_…",
            Key::RsaPss(_) => "whrsk_…",
        };
        write!(f, "SigningSecret({form})")
    }
}

/// The `webhook-signature` header: one signature per secret, space separated (during a
/// rotation both the new and the old secret sign).
pub fn signature_header(
    secrets: &[SigningSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests;
