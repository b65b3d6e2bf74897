//! TLS to PostgreSQL with rustls, as libpq's `sslmode` and `sslrootcert` say. tokio-postgres
//! knows only `disable`, `prefer` and `require`, verifies nothing itself and rejects options
//! it does not know, so both are taken out of the URL's query here and turned into a rustls
//! configuration; the rest of the URL is tokio-postgres's to parse.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use percent_encoding::percent_decode_str;
use rustls::{
    ClientConfig, RootCertStore,
    client::{WebPkiServerVerifier, danger::ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, pem::PemObject},
};
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::verify::{ChainOnly, Unverified};

/// How much of TLS a connection insists on (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext.
    Disable,
    /// TLS if the server offers it, plaintext if not (libpq's default, and so Warren's).
    Prefer,
    /// TLS or nothing; the certificate is not checked unless `sslrootcert` names a CA.
    Require,
    /// TLS, and the server's certificate chains to a trusted CA; its name is not checked.
    VerifyCa,
    /// TLS, the chain, and the certificate names the host connected to.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = TlsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(TlsError::UnknownSslMode(other.to_owned())),
        }
    }
}

impl SslMode {
    /// What tokio-postgres is told: whether TLS is attempted, and whether it is a must.
    fn wire(self) -> WireMode {
        match self {
            Self::Disable => WireMode::Disable,
            Self::Prefer => WireMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => WireMode::Require,
        }
    }
}

/// Where the trusted CAs come from (libpq's `sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// The operating system's trust store (`sslrootcert=system`, or none given with
    /// `verify-ca`/`verify-full`).
    System,
    /// The PEM file at this path.
    File(PathBuf),
}

/// What goes wrong turning a PostgreSQL URL into a connection's settings. The URL itself is
/// never part of the message: it may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `sslmode` is none of libpq's five.
    #[error("unknown sslmode {0:?} (expected disable, prefer, require, verify-ca or verify-full)")]
    UnknownSslMode(String),
    /// tokio-postgres rejects what is left of the URL.
    #[error("not a PostgreSQL URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// The `sslrootcert` file cannot be read or parsed.
    #[error("sslrootcert {}: {reason}", path.display())]
    RootCertFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// Nothing usable in the system's trust store.
    #[error("sslrootcert=system: no trusted certificate found in the system's store")]
    NoSystemRoots,
    /// rustls refuses the configuration.
    #[error("configuring TLS: {0}")]
    Rustls(String),
}

/// A PostgreSQL URL taken apart: what tokio-postgres connects with, and the TLS it uses.
pub struct Target {
    /// Host, port, user, database and options, with the wire-level TLS mode set.
    pub config: tokio_postgres::Config,
    /// The rustls connector, verifying as the `sslmode` says.
    pub tls: MakeRustlsConnect,
    /// The `sslmode` asked for (`prefer` when the URL names none).
    pub mode: SslMode,
}

/// Parses a PostgreSQL URL (`postgres://…?sslmode=…&sslrootcert=…`), reading the root
/// certificates it names.
pub fn target(url: &str) -> Result<Target, TlsError> {
    let (rest, params) = split_tls_params(url);
    let mode = match &params.sslmode {
        Some(mode) => mode.parse()?,
        None => SslMode::Prefer,
    };
    let roots = params.roots(mode);
    let mut config: tokio_postgres::Config = rest.parse().map_err(TlsError::Url)?;
    config.ssl_mode(mode.wire());
    let tls = MakeRustlsConnect::new(client_config(mode, roots.as_ref())?);
    Ok(Target { config, tls, mode })
}

/// The TLS parameters found in a URL's query.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl TlsParams {
    /// The CAs to verify against: those named, else the system's for the verifying modes
    /// (as libpq, a named CA makes `prefer` and `require` verify the chain too).
    fn roots(&self, mode: SslMode) -> Option<RootCerts> {
        match self.sslrootcert.as_deref() {
            Some("system") => Some(RootCerts::System),
            Some(path) => Some(RootCerts::File(PathBuf::from(path))),
            None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                Some(RootCerts::System)
            }
            None => None,
        }
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (percent-decoded), leaving the
/// URL otherwise as it was. A string without a query is returned whole.
fn split_tls_params(url: &str) -> (String, TlsParams) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), TlsParams::default());
    };
    let mut params = TlsParams::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            "sslmode" => params.sslmode = Some(decoded()),
            "sslrootcert" => params.sslrootcert = Some(decoded()),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, params)
}

/// The rustls configuration for a mode: which verifier, over which CAs.
fn client_config(mode: SslMode, roots: Option<&RootCerts>) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::VerifyFull, Some(roots)) => webpki(roots, &provider)?,
        (_, Some(roots)) => Arc::new(ChainOnly::new(webpki(roots, &provider)?)),
        (_, None) => Arc::new(Unverified::new(&provider)),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Rustls(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// rustls's standard verifier (chain, validity, name) over these CAs.
fn webpki(
    roots: &RootCerts,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let store = Arc::new(root_store(roots)?);
    WebPkiServerVerifier::builder_with_provider(store, provider.clone())
        .build()
        .map_err(|error| TlsError::Rustls(error.to_string()))
}

/// The trusted CAs, read from the file or the system.
fn root_store(roots: &RootCerts) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(TlsError::NoSystemRoots);
            }
        }
        RootCerts::File(path) => {
            for certificate in read_pem(path)? {
                store
                    .add(certificate)
                    .map_err(|error| file_error(path, error))?;
            }
        }
    }
    Ok(store)
}

/// Every certificate in a PEM file; at least one.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|error| file_error(path, error))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| file_error(path, error))?;
    if certificates.is_empty() {
        return Err(file_error(path, "no PEM certificate in it"));
    }
    Ok(certificates)
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::RootCertFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_leave_the_query_and_the_rest_stays() {
        let (rest, params) = split_tls_params(
            "postgres://u:p@db:5432/warren?application_name=w&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20x.pem",
        );
        assert_eq!(rest, "postgres://u:p@db:5432/warren?application_name=w");
        assert_eq!(params.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/etc/ca x.pem"));
    }

    #[test]
    fn a_query_of_tls_params_only_leaves_no_question_mark() {
        let (rest, params) = split_tls_params("postgres://db/warren?sslmode=require");
        assert_eq!(rest, "postgres://db/warren");
        assert_eq!(params.sslmode.as_deref(), Some("require"));
        let (rest, params) = split_tls_params("postgres://db/warren");
        assert_eq!(rest, "postgres://db/warren");
        assert_eq!(params, TlsParams::default());
    }

    #[test]
    fn an_unknown_sslmode_is_refused_without_the_url() {
        let error = target("postgres://u:s3cret@db/warren?sslmode=verify_full")
            .err()
            .expect("refused");
        let message = error.to_string();
        assert!(
            message.contains("unknown sslmode \"verify_full\""),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn every_libpq_mode_parses_and_prefer_is_the_default() {
        for (name, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            assert_eq!(name.parse::<SslMode>().expect("known"), mode);
        }
        let target = target("postgres://db/warren").expect("parses");
        assert_eq!(target.mode, SslMode::Prefer);
        assert_eq!(target.config.get_ssl_mode(), WireMode::Prefer);
    }

    #[test]
    fn the_verifying_modes_are_tls_or_nothing_on_the_wire() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://db/warren?sslmode={mode}&sslrootcert=system");
            let target = target(&url).expect("parses");
            assert_eq!(target.config.get_ssl_mode(), WireMode::Require, "{mode}");
        }
    }

    #[test]
    fn a_named_ca_is_verified_in_every_mode_and_the_system_is_the_default_for_verify() {
        let named = TlsParams {
            sslmode: None,
            sslrootcert: Some("/ca.pem".into()),
        };
        let file = Some(RootCerts::File("/ca.pem".into()));
        assert_eq!(named.roots(SslMode::Require), file);
        assert_eq!(named.roots(SslMode::Prefer), file);
        let none = TlsParams::default();
        assert_eq!(none.roots(SslMode::Require), None);
        assert_eq!(none.roots(SslMode::VerifyCa), Some(RootCerts::System));
        assert_eq!(none.roots(SslMode::VerifyFull), Some(RootCerts::System));
    }

    #[test]
    fn a_missing_or_empty_root_certificate_file_is_named_in_the_error() {
        let missing = target("postgres://db/w?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem")
            .err()
            .expect("refused");
        assert!(
            missing
                .to_string()
                .starts_with("sslrootcert /nonexistent/ca.pem: "),
            "{missing}"
        );
        let empty = target("postgres://db/w?sslmode=verify-ca&sslrootcert=/dev/null")
            .err()
            .expect("refused");
        assert_eq!(
            empty.to_string(),
            "sslrootcert /dev/null: no PEM certificate in it"
        );
    }

    #[test]
    fn a_url_tokio_postgres_rejects_is_an_error_without_its_text() {
        let error = target("postgres://u:s3cret@db/w?sslcert=/x.pem")
            .err()
            .expect("refused");
        assert!(matches!(error, TlsError::Url(_)));
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
