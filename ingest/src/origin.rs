//! The origins Warren trusts to act with a browser's session cookie: its own public origin
//! (`WARREN_PUBLIC_URL`) and any listed in `WARREN_ALLOWED_ORIGINS` (a Vite dev server's,
//! say). A browser sends the cookie with a request any page makes, so a write carried by the
//! cookie must say it comes from one of these pages, or another site could make it (CSRF).

use std::str::FromStr;

use axum::http::{HeaderMap, HeaderValue, header};
use url::Url;

/// Origins trusted besides the public URL's: a comma-separated list of http(s) URLs, each
/// reduced to its origin (`http://localhost:5173`); empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl FromStr for AllowedOrigins {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(origin_of)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// The ASCII origin of an http or https URL (`https://warren.example`, default port left out).
fn origin_of(url: &str) -> Result<String, String> {
    let parsed = Url::parse(url).map_err(|e| format!("`{url}` is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}` is not an http or https URL"));
    }
    Ok(parsed.origin().ascii_serialization())
}

/// Where a request says it comes from, judged against the trusted origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Its `Origin` (or, lacking one, its `Referer`) is a trusted origin.
    Trusted,
    /// It names another origin (or `null`, or something that is no URL): the value.
    Foreign(String),
    /// It carries neither header.
    Unknown,
}

/// Every origin Warren trusts.
#[derive(Debug, Clone)]
pub struct TrustedOrigins {
    public: String,
    allowed: AllowedOrigins,
}

impl TrustedOrigins {
    /// The public URL's origin and the allowed ones.
    pub fn new(public_url: &str, allowed: &AllowedOrigins) -> Result<Self, String> {
        Ok(Self {
            public: origin_of(public_url)?,
            allowed: allowed.clone(),
        })
    }

    /// Whether Warren is reached over https (its session cookie is then `Secure`).
    pub fn public_is_https(&self) -> bool {
        self.public.starts_with("https://")
    }

    fn trusts(&self, origin: &str) -> bool {
        self.public == origin || self.allowed.0.iter().any(|allowed| allowed == origin)
    }

    /// Where a request comes from: its `Origin`, else its `Referer`.
    pub fn provenance(&self, headers: &HeaderMap) -> Provenance {
        let Some(claimed) = headers
            .get(header::ORIGIN)
            .or_else(|| headers.get(header::REFERER))
        else {
            return Provenance::Unknown;
        };
        match text(claimed).and_then(|value| origin_of(value).ok()) {
            Some(origin) if self.trusts(&origin) => Provenance::Trusted,
            _ => Provenance::Foreign(String::from_utf8_lossy(claimed.as_bytes()).into_owned()),
        }
    }
}

fn text(value: &HeaderValue) -> Option<&str> {
    value.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedOrigins {
        let allowed = "http://localhost:5173, ".parse().expect("parses");
        TrustedOrigins::new("https://warren.example/", &allowed).expect("valid")
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), value.parse().expect("a header value")))
            .collect()
    }

    #[test]
    fn the_public_origin_and_the_allowed_ones_are_trusted_whatever_the_path() {
        let origins = trusted();
        for origin in [
            "https://warren.example",
            "https://WARREN.example:443",
            "http://localhost:5173",
        ] {
            let got = origins.provenance(&headers(&[(header::ORIGIN, origin)]));
            assert_eq!(got, Provenance::Trusted, "{origin}");
        }
        let referer = headers(&[(header::REFERER, "https://warren.example/sources?x=1")]);
        assert_eq!(origins.provenance(&referer), Provenance::Trusted);
        assert!(origins.public_is_https());
    }

    #[test]
    fn another_origin_a_null_one_or_another_port_or_scheme_is_foreign() {
        let origins = trusted();
        for origin in [
            "https://evil.example",
            "null",
            "https://warren.example:8443",
            "http://warren.example",
            "https://warren.example.evil.example",
        ] {
            let got = origins.provenance(&headers(&[(header::ORIGIN, origin)]));
            assert_eq!(got, Provenance::Foreign(origin.into()), "{origin}");
        }
    }

    #[test]
    fn the_origin_wins_over_the_referer_and_neither_is_unknown() {
        let origins = trusted();
        let both = headers(&[
            (header::ORIGIN, "https://evil.example"),
            (header::REFERER, "https://warren.example/"),
        ]);
        assert!(matches!(origins.provenance(&both), Provenance::Foreign(_)));
        assert_eq!(origins.provenance(&HeaderMap::new()), Provenance::Unknown);
    }

    #[test]
    fn an_allowed_origin_that_is_not_an_http_url_is_refused_at_start_up() {
        assert!("ftp://files.example".parse::<AllowedOrigins>().is_err());
        assert!("localhost:5173".parse::<AllowedOrigins>().is_err());
        assert_eq!(
            "".parse::<AllowedOrigins>().expect("empty"),
            AllowedOrigins::default()
        );
        assert!(TrustedOrigins::new("not a url", &AllowedOrigins::default()).is_err());
    }
}
