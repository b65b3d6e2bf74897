//! The SSRF guard: which addresses a delivery may connect to.
//!
//! Targets that resolve to loopback, private, link-local (cloud metadata), CGNAT, unique-local,
//! unspecified, multicast or any other address of IANA's IPv4 and IPv6 special-purpose
//! registries that is not globally reachable are refused, and so is IPv6 outside `2000::/3`
//! (the only unicast space allocated); an IPv6 form that embeds an IPv4 address (mapped,
//! NAT64 `64:ff9b::/96`, 6to4, IPv4-compatible) is judged as that IPv4 address. An operator
//! may allow-list ranges (`WARREN_ALLOW_TARGET_CIDRS`; local development and tests do).
//! The deliver worker (and ingest's notification sender) applies it to every address DNS
//! returns, through [`GuardedResolver`], and to IP-literal targets, so the address checked is
//! the address connected to.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The guard with its allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfGuard {
    allow: Vec<IpNet>,
}

/// An address the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is a non-public address")]
pub struct Blocked(pub IpAddr);

impl SsrfGuard {
    /// A guard that lets the given ranges through even when they are not public.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Refuses `ip` unless it is public or allow-listed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let ip = canonical(ip);
        if self.allow.iter().any(|net| net.contains(&ip)) || is_public(ip) {
            Ok(())
        } else {
            Err(Blocked(ip))
        }
    }

    /// Whether a host named in a URL is refused before any lookup: IP literals outside the
    /// allow-list and `localhost`. Names are otherwise checked when resolved.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Blocked> {
        match host {
            url::Host::Ipv4(ip) => self.check(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.check(IpAddr::V6(*ip)),
            url::Host::Domain(name) if is_localhost(name) => self.check(Ipv4Addr::LOCALHOST.into()),
            url::Host::Domain(_) => Ok(()),
        }
    }
}

impl FromStr for SsrfGuard {
    type Err = ipnet::AddrParseError;

    /// Parses a comma-separated list of CIDRs (`127.0.0.1/32,10.0.0.0/8`); empty means none.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let allow = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(IpNet::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(allow))
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is judged as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !NON_PUBLIC_V4.iter().any(|net| net.contains(&ip))
}

/// IPv4 ranges no delivery may reach: every entry of IANA's IPv4 special-purpose registry
/// that is not globally reachable (or is an anycast service, never a web server), with
/// multicast and the reserved class E.
const NON_PUBLIC_V4: &[Ipv4Net] = &[
    v4([0, 0, 0, 0], 8),       // "this network"
    v4([10, 0, 0, 0], 8),      // private
    v4([100, 64, 0, 0], 10),   // shared address space (CGNAT)
    v4([127, 0, 0, 0], 8),     // loopback
    v4([169, 254, 0, 0], 16),  // link-local (cloud metadata)
    v4([172, 16, 0, 0], 12),   // private
    v4([192, 0, 0, 0], 24),    // IETF protocol assignments (DS-Lite, NAT64 discovery, anycast)
    v4([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    v4([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
    v4([192, 168, 0, 0], 16),  // private
    v4([198, 18, 0, 0], 15),   // benchmarking
    v4([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    v4([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    v4([224, 0, 0, 0], 4),     // multicast
    v4([240, 0, 0, 0], 4),     // reserved, and the limited broadcast 255.255.255.255
];

const fn v4([a, b, c, d]: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

/// IANA has allocated no IPv6 unicast space outside `2000::/3`: everything else (`::/8`,
/// `100::/64` discard-only, `64:ff9b:1::/48` local NAT64, `5f00::/16` segment routing,
/// `fc00::/7` unique-local, `fe80::/10` link-local, `fec0::/10` site-local, `ff00::/8`
/// multicast, …) is refused, but for the forms that embed an IPv4 address.
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// The parts of `2000::/3` that are not public (IANA's IPv6 special-purpose registry).
const NON_PUBLIC_V6: &[Ipv6Net] = &[
    // IETF protocol assignments: Teredo (2001::/32, which tunnels to an IPv4 address of
    // anyone's choosing), benchmarking (2001:2::/48), ORCHID (2001:10::/28), ORCHIDv2
    // (2001:20::/28), DRIP, AMT and AS112 anycast: none of them a web server.
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
    v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),      // documentation
];

const fn v6([a, b, c, d, e, f, g, h]: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    GLOBAL_UNICAST.contains(&ip) && !NON_PUBLIC_V6.iter().any(|net| net.contains(&ip))
}

/// The IPv4 address an IPv6 form reaches: NAT64 (`64:ff9b::/96`), 6to4 (`2002:AABB:CCDD::/48`)
/// and the deprecated IPv4-compatible form (`::a.b.c.d`). (IPv4-mapped addresses are made
/// IPv4 by [`canonical`] before this.)
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    let last_32 = Ipv4Addr::new(a, b, c, d);
    match segments {
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(last_32),
        [0x2002, high, low, ..] => {
            let [a, b] = high.to_be_bytes();
            let [c, d] = low.to_be_bytes();
            Some(Ipv4Addr::new(a, b, c, d))
        }
        // `::` and `::1` are IPv6's own unspecified and loopback, judged as such.
        [0, 0, 0, 0, 0, 0, ..] if !ip.is_loopback() && !ip.is_unspecified() => Some(last_32),
        _ => None,
    }
}

/// A DNS resolver for reqwest that keeps only the addresses the guard allows and refuses a
/// name when none is left (with [`Blocked`] as the error's source, so a caller can tell an
/// SSRF refusal from a failed lookup).
pub struct GuardedResolver {
    guard: SsrfGuard,
}

impl GuardedResolver {
    /// A resolver applying `guard`.
    pub fn new(guard: SsrfGuard) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let first = found.first().map(SocketAddr::ip);
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| guard.check(a.ip()).is_ok())
                .collect();
            match (allowed.is_empty(), first) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some(ip)) => {
                    Err(Box::new(Blocked(ip)) as Box<dyn std::error::Error + Send + Sync>)
                }
                (true, None) => Err(format!("{} has no address", name.as_str()).into()),
            }
        })
    }
}

/// Whether a URL names an IP literal the guard refuses (such hosts never reach a resolver,
/// so a client checks them itself before sending).
pub fn check_literal(guard: &SsrfGuard, url: &str) -> Result<(), Blocked> {
    let Ok(url) = url::Url::parse(url) else {
        return Ok(());
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => guard.check(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => guard.check(IpAddr::V6(ip)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(guard: &SsrfGuard, ip: &str) -> bool {
        guard.check(ip.parse().expect("an address")).is_err()
    }

    #[test]
    fn non_public_addresses_are_refused_by_default() {
        let guard = SsrfGuard::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(blocked(&guard, ip), "{ip} should be refused");
        }
    }

    /// One address at each end of every range IANA's special-purpose registries (and the
    /// guard) hold non-public.
    #[test]
    fn every_special_purpose_range_is_refused_at_both_ends() {
        let guard = SsrfGuard::default();
        for ip in [
            "0.0.0.1",
            "0.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "192.0.0.0",
            "192.0.0.9",
            "192.0.0.255",
            "192.0.2.1",
            "192.88.99.1",
            "198.18.0.0",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "240.0.0.1",
            "255.255.255.254",
            "100::",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1",
            "2001::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:1f:ffff::1",
            "2001:20::1",
            "2001:2f:ffff::1",
            "2001:1ff:ffff::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "64:ff9b:1::1",
            "64:ff9b:1:ffff::1",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf:ffff::1",
            "fec0::1",
            "ff02::1",
            "::ffff:0:a00:1",
            "4000::1",
        ] {
            assert!(blocked(&guard, ip), "{ip} should be refused");
        }
    }

    #[test]
    fn an_embedded_ipv4_address_is_judged_as_itself() {
        let guard = SsrfGuard::default();
        for (ip, refused) in [
            ("::ffff:192.0.0.1", true),
            ("::ffff:198.18.0.1", true),
            ("64:ff9b::c000:1", true),
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::808:808", false),
            ("2002:c000:0001::1", true),
            ("2002:0a00:0001::1", true),
            ("2002:0808:0808::1", false),
            ("::10.0.0.1", true),
        ] {
            assert_eq!(blocked(&guard, ip), refused, "{ip}");
        }
    }

    #[test]
    fn the_neighbours_of_the_ranges_are_public() {
        let guard = SsrfGuard::default();
        for ip in [
            "100.63.255.255",
            "100.128.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2001:200::1",
            "2001:db9::1",
            "2001:4860:4860::8888",
            "3fff:1000::1",
        ] {
            assert!(!blocked(&guard, ip), "{ip} should pass");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let guard = SsrfGuard::default();
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!blocked(&guard, ip), "{ip} should pass");
        }
    }

    #[test]
    fn an_allow_listed_range_passes_and_nothing_else_does() {
        let guard: SsrfGuard = "127.0.0.1/32".parse().expect("a CIDR list");
        assert!(!blocked(&guard, "127.0.0.1"));
        assert!(blocked(&guard, "127.0.0.2"));
        assert!(blocked(&guard, "10.0.0.1"));
    }

    #[test]
    fn an_empty_allow_list_parses_to_the_default_guard() {
        assert_eq!(
            "".parse::<SsrfGuard>().expect("empty is valid"),
            SsrfGuard::default()
        );
        assert!(" 10.0.0.0/8 , nonsense".parse::<SsrfGuard>().is_err());
    }

    #[test]
    fn localhost_and_ip_literals_are_judged_before_any_lookup() {
        let guard = SsrfGuard::default();
        assert!(guard.check_host(&url::Host::Domain("localhost")).is_err());
        assert!(
            guard
                .check_host(&url::Host::Domain("api.localhost."))
                .is_err()
        );
        assert!(
            guard
                .check_host(&url::Host::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
                .is_err()
        );
        assert!(guard.check_host(&url::Host::Domain("example.com")).is_ok());
    }
}
