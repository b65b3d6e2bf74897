//! Properties of the pure pieces, over generated inputs: signatures, the SSRF classifier and
//! the retry tiers.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use proptest::prelude::*;
use warren_shared::{
    retry::{RetrySchedule, jittered},
    signing::SigningSecret,
    ssrf::SsrfGuard,
    topology::{QueueKind, Topology},
};

/// An HMAC secret of any length, SHA-256 (`whsec_`) or SHA-512 (`hmac_sha512:whsec_`).
fn secret() -> impl Strategy<Value = SigningSecret> {
    let tag = prop_oneof![Just(""), Just("hmac_sha512:")];
    (tag, proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(tag, key)| {
        use base64::Engine;
        let text = format!(
            "{tag}whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        SigningSecret::parse(&text).expect("a valid secret")
    })
}

proptest! {
    #[test]
    fn a_signature_verifies_and_any_single_byte_change_breaks_it(
        secret in secret(),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        id in "[a-zA-Z0-9_]{1,40}",
        timestamp in 0i64..4_000_000_000,
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let signature = secret.sign(&id, timestamp, &body);
        prop_assert!(secret.verify(&id, timestamp, &body, &signature));
        let mut tampered = body.clone();
        let at = position.index(tampered.len());
        tampered[at] ^= flip;
        prop_assert!(!secret.verify(&id, timestamp, &tampered, &signature));
        prop_assert!(!secret.verify(&id, timestamp + 1, &body, &signature));
        let other_id = format!("{}x", id);
        prop_assert!(!secret.verify(&other_id, timestamp, &body, &signature));
    }

    #[test]
    fn every_ipv6_form_of_an_ipv4_address_is_judged_like_the_address(octets in any::<[u8; 4]>()) {
        let guard = SsrfGuard::default();
        let v4 = Ipv4Addr::from(octets);
        let verdict = guard.check(IpAddr::V4(v4)).is_ok();
        let [a, b, c, d] = octets;
        let forms = [
            v4.to_ipv6_mapped(),
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])),
            Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 0, 0, 0, 0, 1),
        ];
        for form in forms {
            prop_assert_eq!(guard.check(IpAddr::V6(form)).is_ok(), verdict, "{} as {}", v4, form);
        }
    }

    #[test]
    fn an_allow_listed_address_always_passes(octets in any::<[u8; 4]>()) {
        let v4 = Ipv4Addr::from(octets);
        let guard: SsrfGuard = format!("{v4}/32").parse().expect("a CIDR");
        prop_assert!(guard.check(IpAddr::V4(v4)).is_ok());
        prop_assert!(guard.check(IpAddr::V6(v4.to_ipv6_mapped())).is_ok());
    }

    #[test]
    fn a_wait_lands_in_the_shortest_tier_that_holds_it(
        mut waits in proptest::collection::vec(1u64..100_000, 1..8),
        delay in 0u64..200_000,
    ) {
        waits.sort_unstable();
        let schedule = RetrySchedule::new(waits.iter().map(|&ms| Duration::from_millis(ms)).collect()).expect("valid");
        let topology = Topology::new("t", QueueKind::Quorum, schedule);
        let delay = Duration::from_millis(delay);
        let tier = topology.tier_for(delay);
        let tiers = topology.tiers();
        let longest = tiers.last().expect("there is always the park tier").ttl;
        prop_assert!(tiers.windows(2).all(|w| w[0].ttl < w[1].ttl), "tiers are distinct, shortest first");
        if delay <= longest {
            prop_assert!(tier.ttl >= delay);
            prop_assert!(tiers.iter().all(|t| t.ttl < delay || t.ttl >= tier.ttl), "a shorter tier holds it");
        } else {
            prop_assert_eq!(tier.ttl, longest);
        }
        let jitter = jittered(delay, &mut rand::rng());
        prop_assert!(jitter <= delay && jitter >= delay.mul_f64(0.8));
    }
}
