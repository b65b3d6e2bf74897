//! The signing keys' unit tests: reference vectors, and vectors made by another library.

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
    let key = SigningSecret::generate_for(SigningAlgorithm::Ed25519).expect("a key");
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

/// The reference vector's message signed with HMAC-SHA512 by Python's `hmac` module.
#[test]
fn an_hmac_sha512_secret_signs_v1s_as_python_does_and_shows_only_the_whsec_part() {
    let stored = "hmac_sha512:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let secret = SigningSecret::parse(stored).expect("valid");
    assert_eq!(secret.algorithm(), SigningAlgorithm::HmacSha512);
    assert_eq!(secret.expose(), stored);
    assert_eq!(
        secret.shared_secret(),
        Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    );
    assert_eq!(secret.public_key(), None);
    let body = br#"{"test": 2432232314}"#;
    let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
    assert_eq!(
        signature,
        "v1s,6tCj9QaIA2sXno6tr52xtJSf7C1DFUjL57o7GpMcNtKT+cTJjCL7+MR725hhy1tRjDat8d8ZD0zjkEupzYSsjw=="
    );
    assert!(secret.verify(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        body,
        &signature
    ));
    let sha256 = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
    assert!(
        !sha256.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
            &signature
        ),
        "the same secret's v1 does not take a v1s signature"
    );
    assert_eq!(SigningSecret::parse("hmac_sha512:whsec_"), Err(BadSecret));
    assert_eq!(SigningSecret::parse("hmac_sha512:abc"), Err(BadSecret));
}

#[test]
fn a_generated_hmac_sha512_secret_reads_back_as_itself() {
    let secret = SigningSecret::generate_for(SigningAlgorithm::HmacSha512).expect("a key");
    let again = SigningSecret::parse(secret.expose()).expect("valid");
    assert_eq!(again.algorithm(), SigningAlgorithm::HmacSha512);
    assert_eq!(again, secret);
    let shared = secret.shared_secret().expect("shown");
    assert!(shared.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&shared[6..]).expect("base64").len(), 32);
    assert!(secret.sign("msg_1", 1, b"{}").starts_with("v1s,"));
}

const RSA_KEY: &str = include_str!("../../../tests/fixtures/rsa-2048.pkcs8.b64");
const RSA_PEM: &str = include_str!("../../../tests/fixtures/rsa-2048.pub.pem");
const SMALL_RSA_KEY: &str = include_str!("../../../tests/fixtures/rsa-1024.pkcs8.b64");

/// Made by Python's `cryptography` with the fixture key over the reference message:
/// RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length 32.
const PYTHON_PSS_SALT_32: &str = "Duogxzj48eSIXitEf+6cp1olJSm/0i1+ZFBe+EZLk8XJrVWVqSFWAEVRtiVvKJyqDQGx8KWBB3h72K3GTWPAUhSFJrP78XUnO9yWwm4M7Et2IgtSn96jvv12BJgaR7t788Po10OUvuuht+3U+oG95P6zuJybNj+9+Yo/hd+z4K3kCebCcq6mAPUcFcec27wj0oQzgfclM0T2rXgL6ni3D5rCYvhNTP/0zgjrkuo1RMKiZwgWkankV3iyqn0DZnjWBusu+AwkmCu/69wzpZ60PeJlBEq2HC6+6b/Ja9PZaayZhrLipnS3bSCqF0CHnehgOzyrX02ODqwMYhjLeCYTeg==";

/// The same, with a salt of 20 bytes: a valid PSS signature, but not the contract's.
const PYTHON_PSS_SALT_20: &str = "Bvqu/S6Wh8kRFloxAymgJpZQEhF5o84B968ohW+QyyqzFVsfTRTCPHVOAw4Hxm96gwvXjm03NrCnYadIZsH46s0LWeeIuzPI2KxWHT7azS/ydmOIwUhY59alfK3TzPkx2bFAMHOxQDd7/mbZATVw/G3p4weNvH1RTcnWyPhiHLr6zy+h8M9IIH4SZcyaCptBv53vCTLG+uPMZLo1YQqV1Adq7R6t/W0xG8wGh6wNTQQTeGkyk0dG899Uo1G6LR859gADKrBwElnk7tvC5Yc69dd8bk+Jx2YYuL5SeER4RwUfWkm2x857sCtBephhMXS95SzQyvxTsgSrUn+L2sRZog==";

#[test]
fn an_rsa_key_made_elsewhere_shows_its_pem_and_verifies_that_library_s_v1r() {
    let key = SigningSecret::parse(&format!("whrsk_{}", RSA_KEY.trim())).expect("valid");
    assert_eq!(key.algorithm(), SigningAlgorithm::RsaPssSha256);
    assert_eq!(key.public_key().as_deref(), Some(RSA_PEM));
    assert_eq!(key.shared_secret(), None);
    let (id, timestamp, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        br#"{"test": 2432232314}"#,
    );
    let header = format!("v1,AAAA v1r,{PYTHON_PSS_SALT_32}");
    assert!(key.verify(id, timestamp, body, &header));
    assert!(!key.verify(id, timestamp + 1, body, &header));
    assert!(
        !key.verify(id, timestamp, body, &format!("v1r,{PYTHON_PSS_SALT_20}")),
        "a salt of other than 32 bytes is refused"
    );
    let ours = key.sign(id, timestamp, body);
    assert!(ours.starts_with("v1r,"));
    assert_eq!(STANDARD.decode(&ours[4..]).expect("base64").len(), 256);
    assert!(key.verify(id, timestamp, body, &ours));
    assert_ne!(
        ours,
        key.sign(id, timestamp, body),
        "a fresh salt each time"
    );
}

#[test]
fn an_rsa_key_must_be_pkcs8_rsa_of_2048_bits_or_more() {
    assert_eq!(SigningSecret::parse("whrsk_AAAA"), Err(BadSecret));
    assert_eq!(SigningSecret::parse("whrsk_***"), Err(BadSecret));
    assert_eq!(
        SigningSecret::parse(&format!("whrsk_{}", SMALL_RSA_KEY.trim())),
        Err(BadSecret)
    );
}

#[test]
fn a_generated_rsa_key_is_2048_bits_reads_back_and_never_shows_its_private_half() {
    let key = SigningSecret::generate_for(SigningAlgorithm::RsaPssSha256).expect("a key");
    let public = key.public_key().expect("a public key");
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    assert!(public.ends_with("-----END PUBLIC KEY-----\n"), "{public}");
    assert!(key.expose().starts_with("whrsk_"));
    assert_eq!(key.shared_secret(), None);
    assert!(!format!("{key:?}").contains(&key.expose()[6..20]));
    let again = SigningSecret::parse(key.expose()).expect("valid");
    assert_eq!(again.public_key(), Some(public));
    let signature = key.sign("msg_1", 1_700_000_000, b"{}");
    assert_eq!(STANDARD.decode(&signature[4..]).expect("base64").len(), 256);
    assert!(again.verify("msg_1", 1_700_000_000, b"{}", &signature));
    assert!(!again.verify("msg_1", 1_700_000_000, b"{ }", &signature));
}

#[test]
fn each_algorithm_signs_with_its_own_tag() {
    for (algorithm, tag) in [
        (SigningAlgorithm::HmacSha256, "v1,"),
        (SigningAlgorithm::HmacSha512, "v1s,"),
        (SigningAlgorithm::Ed25519, "v1a,"),
    ] {
        let key = SigningSecret::generate_for(algorithm).expect("a key");
        assert_eq!(key.algorithm(), algorithm);
        assert!(key.sign("msg_1", 1, b"").starts_with(tag), "{algorithm:?}");
    }
}
