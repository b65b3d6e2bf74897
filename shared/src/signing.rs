//! Standard Webhooks signing. A subscription signs with one of two kinds of key:
//!
//! - a symmetric `whsec_` secret (the default): `webhook-signature: v1,<base64 HMAC-SHA256 of
//!   id.timestamp.body>`, the key being the base64 after the prefix;
//! - an Ed25519 `whsk_` key (opt-in): `webhook-signature: v1a,<base64 Ed25519 signature of
//!   id.timestamp.body>`; receivers verify with the public key, `whpk_<base64>`, which is all
//!   they are ever given.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, Verifier};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const HMAC_PREFIX: &str = "whsec_";
const ED25519_PREFIX: &str = "whsk_";
const PUBLIC_PREFIX: &str = "whpk_";

/// Which kind of key signs a subscription's deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SigningAlgorithm {
    /// `v1`: HMAC-SHA256 with a shared `whsec_` secret.
    #[default]
    HmacSha256,
    /// `v1a`: Ed25519; receivers hold only the `whpk_` public key.
    Ed25519,
}

/// A subscription's signing key (`whsec_…` or `whsk_…`). Never printed by `Debug`.
#[derive(Clone)]
pub struct SigningSecret {
    text: String,
    key: Key,
}

#[derive(Clone)]
enum Key {
    Hmac(Vec<u8>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl PartialEq for SigningSecret {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SigningSecret {}

/// The text was not a `whsec_` secret or a `whsk_` key with a base64 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a signing secret is `whsec_` (or `whsk_` for Ed25519) followed by base64")]
pub struct BadSecret;

impl SigningSecret {
    /// A fresh HMAC secret with a 32-byte random key.
    pub fn generate() -> Self {
        Self::generate_for(SigningAlgorithm::HmacSha256)
    }

    /// A fresh key of the given kind, from 32 random bytes.
    pub fn generate_for(algorithm: SigningAlgorithm) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let prefix = match algorithm {
            SigningAlgorithm::HmacSha256 => HMAC_PREFIX,
            SigningAlgorithm::Ed25519 => ED25519_PREFIX,
        };
        Self::parse(&format!("{prefix}{}", STANDARD.encode(bytes))).expect("a generated key parses")
    }

    /// Parses a stored or user-supplied secret.
    pub fn parse(text: &str) -> Result<Self, BadSecret> {
        let key = if let Some(encoded) = text.strip_prefix(HMAC_PREFIX) {
            let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
            if key.is_empty() {
                return Err(BadSecret);
            }
            Key::Hmac(key)
        } else if let Some(encoded) = text.strip_prefix(ED25519_PREFIX) {
            let seed: [u8; 32] = STANDARD
                .decode(encoded)
                .map_err(|_| BadSecret)?
                .try_into()
                .map_err(|_| BadSecret)?;
            Key::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
        } else {
            return Err(BadSecret);
        };
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    /// The secret as stored (`whsec_…` or `whsk_…`). Only HMAC secrets are shown to users.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// Which kind of key this is.
    pub fn algorithm(&self) -> SigningAlgorithm {
        match self.key {
            Key::Hmac(_) => SigningAlgorithm::HmacSha256,
            Key::Ed25519(_) => SigningAlgorithm::Ed25519,
        }
    }

    /// The Ed25519 public key receivers verify with (`whpk_<base64>`); `None` for HMAC.
    pub fn public_key(&self) -> Option<String> {
        match &self.key {
            Key::Hmac(_) => None,
            Key::Ed25519(key) => Some(format!(
                "{PUBLIC_PREFIX}{}",
                STANDARD.encode(key.verifying_key().to_bytes())
            )),
        }
    }

    /// One `v1,<base64>` or `v1a,<base64>` signature of a message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        match &self.key {
            Key::Hmac(key) => {
                let tag = mac(key, msg_id, timestamp, body).finalize().into_bytes();
                format!("v1,{}", STANDARD.encode(tag))
            }
            Key::Ed25519(key) => {
                let signature = key.sign(&signed_content(msg_id, timestamp, body));
                format!("v1a,{}", STANDARD.encode(signature.to_bytes()))
            }
        }
    }

    /// Whether a `webhook-signature` header value (several space-separated signatures) holds
    /// a valid signature by this key. The body is hashed once whatever the header holds, each
    /// HMAC comparison is constant-time, and a header of more than [`MAX_SIGNATURES`] entries
    /// is refused unread, so the work a request can cause is bounded.
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let Some(candidates) = candidates(header) else {
            return false;
        };
        match &self.key {
            Key::Hmac(key) => {
                let signed = mac(key, msg_id, timestamp, body);
                candidates
                    .filter_map(|candidate| decoded(candidate, "v1,"))
                    .fold(false, |found, tag| {
                        signed.clone().verify_slice(&tag).is_ok() | found
                    })
            }
            Key::Ed25519(key) => {
                let content = signed_content(msg_id, timestamp, body);
                let verifying = key.verifying_key();
                candidates
                    .filter_map(|candidate| decoded(candidate, "v1a,"))
                    .filter_map(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
                    .any(|signature| verifying.verify(&content, &signature).is_ok())
            }
        }
    }
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
fn mac(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(signed_prefix(msg_id, timestamp).as_bytes());
    mac.update(body);
    mac
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            Key::Hmac(_) => f.write_str("SigningSecret(whsec_…)"),
            Key::Ed25519(_) => f.write_str("SigningSecret(whsk_…)"),
        }
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
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_the_standard_webhooks_reference_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_its_own_signature_among_several_and_refuses_a_tampered_body() {
        let old = SigningSecret::generate();
        let new = SigningSecret::generate();
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(old.verify("msg_1", 1_700_000_000, b"{}", &header));
        assert!(new.verify("msg_1", 1_700_000_000, b"{}", &header));
        assert!(!new.verify("msg_1", 1_700_000_000, b"{ }", &header));
        assert!(!new.verify("msg_1", 1_700_000_001, b"{}", &header));
    }

    #[test]
    fn a_header_of_more_than_max_signatures_entries_is_refused_even_with_the_right_one() {
        let secret = SigningSecret::generate();
        let good = secret.sign("msg_1", 1_700_000_000, b"{}");
        let within = format!("{} {good}", vec!["v1,"; MAX_SIGNATURES - 1].join(" "));
        assert!(secret.verify("msg_1", 1_700_000_000, b"{}", &within));
        let over = format!("{} {good}", vec!["v1,AAAA"; MAX_SIGNATURES].join(" "));
        assert!(!secret.verify("msg_1", 1_700_000_000, b"{}", &over));
        let spaced = format!("  {good}   {good}  ");
        assert_eq!(
            candidates(&spaced).map(Iterator::count),
            Some(2),
            "empty entries skipped"
        );
    }

    #[test]
    fn a_secret_must_be_whsec_and_base64() {
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(BadSecret)
        );
        assert_eq!(SigningSecret::parse("whsec_***"), Err(BadSecret));
        assert_eq!(SigningSecret::parse("whsec_"), Err(BadSecret));
    }

    #[test]
    fn an_ed25519_key_signs_v1a_that_its_public_key_verifies_and_a_change_breaks() {
        let key = SigningSecret::generate_for(SigningAlgorithm::Ed25519);
        assert_eq!(key.algorithm(), SigningAlgorithm::Ed25519);
        assert!(key.expose().starts_with("whsk_"));
        let public = key.public_key().expect("a public key");
        assert!(public.starts_with("whpk_"));
        assert_eq!(STANDARD.decode(&public[5..]).expect("base64").len(), 32);
        let signature = key.sign("msg_1", 1_700_000_000, b"{}");
        assert!(signature.starts_with("v1a,"));
        let hmac = SigningSecret::generate();
        let header = format!("{} {signature}", hmac.sign("msg_1", 1_700_000_000, b"{}"));
        assert!(key.verify("msg_1", 1_700_000_000, b"{}", &header));
        assert!(hmac.verify("msg_1", 1_700_000_000, b"{}", &header));
        assert!(!key.verify("msg_1", 1_700_000_000, b"{ }", &header));
        assert!(!key.verify("msg_2", 1_700_000_000, b"{}", &header));
        assert_eq!(SigningSecret::generate().public_key(), None);
    }

    /// RFC 8032, section 7.1, test 1: the empty message under the first test key. Our signed
    /// content for id "" and a timestamp is not empty, so the vector is checked on the key
    /// itself: the public key derived from the seed and a signature of the empty message.
    #[test]
    fn the_ed25519_key_follows_rfc_8032() {
        let seed = hex_bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = SigningSecret::parse(&format!("whsk_{}", STANDARD.encode(&seed))).expect("valid");
        let public = hex_bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert_eq!(
            key.public_key(),
            Some(format!("whpk_{}", STANDARD.encode(public)))
        );
        let Key::Ed25519(inner) = &key.key else {
            panic!("an Ed25519 key")
        };
        let signature = inner.sign(b"").to_bytes();
        assert_eq!(
            signature.to_vec(),
            hex_bytes(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            )
        );
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn an_ed25519_key_must_be_32_bytes() {
        assert_eq!(SigningSecret::parse("whsk_AAAA"), Err(BadSecret));
        assert!(SigningSecret::parse(&format!("whsk_{}", STANDARD.encode([7u8; 32]))).is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SigningSecret::generate();
        assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
    }
}
