//! TLS to PostgreSQL (RDS requires it), with libpq's `sslmode` meanings:
//!
//! | `sslmode`            | encryption           | certificate checked                      |
//! |----------------------|----------------------|------------------------------------------|
//! | `disable`            | never                | —                                        |
//! | `prefer` (default)   | when the server has it | no (as libpq: encrypted, not authenticated) |
//! | `require`            | always               | no (as libpq)                            |
//! | `verify-ca`, `verify-full` | always         | chain and host name (rustls checks both) |
//!
//! Certificates are checked against `sslrootcert` (a PEM file, e.g. the RDS CA bundle)
//! when given, else the Mozilla roots (webpki-roots). tokio-postgres knows neither
//! `sslrootcert` nor the `verify-*` modes, so [`split`] takes them out of the connection
//! string before it is parsed. rustls runs on the ring provider (no aws-lc C build).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, certificate not checked.
    Prefer,
    /// TLS always, certificate not checked.
    Require,
    /// TLS always, chain checked (rustls also checks the host name).
    VerifyCa,
    /// TLS always, chain and host name checked.
    VerifyFull,
}

/// What [`split`] took out of the connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The mode; [`SslMode::Prefer`] when the string names none (libpq's default).
    pub mode: SslMode,
    /// `sslrootcert`: PEM file of trusted CA certificates.
    pub root_cert: Option<PathBuf>,
}

/// TLS options that cannot be used. The rustls or operating-system error behind a
/// message stays its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// An `sslmode` libpq does not know.
    #[error("unknown sslmode {0:?}")]
    UnknownMode(String),
    /// rustls refused the protocol versions.
    #[error("TLS setup: {0}")]
    Setup(#[source] rustls::Error),
    /// The `sslrootcert` file cannot be read or is not PEM.
    #[error("sslrootcert {}: {source}", path.display())]
    RootCertRead {
        /// The file.
        path: PathBuf,
        /// The reading or PEM parsing error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate of the `sslrootcert` file that rustls does not take as a root.
    #[error("sslrootcert {}: {source}", path.display())]
    RootCertRefused {
        /// The file.
        path: PathBuf,
        /// rustls' refusal.
        #[source]
        source: rustls::Error,
    },
    /// The `sslrootcert` file holds no certificate.
    #[error("sslrootcert {}: no PEM certificate in it", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
}

/// Splits TLS options from a URL (`?sslmode=…&sslrootcert=…`) or key=value string, and
/// returns the string tokio-postgres can parse (the `verify-*` modes become `require`,
/// `sslrootcert` is removed).
///
/// # Errors
/// An unknown `sslmode` value.
pub fn split(conn: &str) -> Result<(String, TlsOptions), TlsError> {
    let mut opts = TlsOptions { mode: SslMode::Prefer, root_cert: None };
    let mut take = |key: &str, value: &str| -> Result<Option<String>, TlsError> {
        match key {
            "sslmode" => {
                opts.mode = match value {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => return Err(TlsError::UnknownMode(other.to_string())),
                };
                let pg = if opts.mode == SslMode::Disable {
                    "disable"
                } else if opts.mode == SslMode::Prefer {
                    "prefer"
                } else {
                    "require"
                };
                Ok(Some(format!("sslmode={pg}")))
            }
            "sslrootcert" => {
                opts.root_cert = Some(PathBuf::from(percent_decode(value)));
                Ok(None)
            }
            _ => Ok(Some(format!("{key}={value}"))),
        }
    };
    let out = if conn.contains("://") {
        match conn.split_once('?') {
            None => conn.to_string(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for kv in query.split('&').filter(|s| !s.is_empty()) {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    if let Some(s) = take(k, v)? {
                        kept.push(s);
                    }
                }
                if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) }
            }
        }
    } else {
        let mut kept = Vec::new();
        for kv in conn.split_whitespace() {
            match kv.split_once('=') {
                Some((k, v)) => {
                    if let Some(s) = take(k.trim(), v.trim())? {
                        kept.push(s);
                    }
                }
                None => kept.push(kv.to_string()),
            }
        }
        kept.join(" ")
    };
    Ok((out, opts))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The rustls configuration for `opts`; `None` for [`SslMode::Disable`].
///
/// # Errors
/// An unreadable or empty `sslrootcert` file.
pub fn client_config(opts: &TlsOptions) -> Result<Option<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?;
    Ok(match opts.mode {
        SslMode::Disable => None,
        SslMode::Prefer | SslMode::Require => Some(
            builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth(),
        ),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            match &opts.root_cert {
                Some(path) => {
                    let read_err = |source| TlsError::RootCertRead { path: path.clone(), source };
                    let pem = std::fs::read(path).map_err(read_err)?;
                    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                        let cert = cert.map_err(read_err)?;
                        roots.add(cert).map_err(|source| TlsError::RootCertRefused { path: path.clone(), source })?;
                    }
                    if roots.is_empty() {
                        return Err(TlsError::NoCertificate { path: path.clone() });
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            Some(builder.with_root_certificates(roots).with_no_client_auth())
        }
    })
}

/// libpq's `require`/`prefer`: encrypts without authenticating the server (signatures
/// are still verified, so the session keys belong to whoever holds the certificate's key).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls_and_key_values() {
        let (s, o) =
            split("postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/etc/rds%20ca.pem&connect_timeout=5")
                .unwrap();
        assert_eq!(s, "postgres://u@h:5432/db?sslmode=require&connect_timeout=5");
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.root_cert.as_deref(), Some(std::path::Path::new("/etc/rds ca.pem")));
        let (s, o) = split("postgres://u@h/db").unwrap();
        assert_eq!((s.as_str(), o.mode), ("postgres://u@h/db", SslMode::Prefer));
        let (s, o) = split("host=h user=u sslmode=disable sslrootcert=/x.pem").unwrap();
        assert_eq!((s.as_str(), o.mode), ("host=h user=u sslmode=disable", SslMode::Disable));
        assert!(split("postgres://u@h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn configs_per_mode() {
        let mk = |mode| TlsOptions { mode, root_cert: None };
        assert!(client_config(&mk(SslMode::Disable)).unwrap().is_none());
        assert!(client_config(&mk(SslMode::Require)).unwrap().is_some());
        assert!(client_config(&mk(SslMode::VerifyFull)).unwrap().is_some());
        let missing = TlsOptions { mode: SslMode::VerifyFull, root_cert: Some("/nonexistent/ca.pem".into()) };
        let e = client_config(&missing).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>()).expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
