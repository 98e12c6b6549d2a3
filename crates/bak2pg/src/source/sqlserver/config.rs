//! Where the SQL Server is and how to log in: a [`MssqlConfig`] from a URL or from the
//! `MSSQL_*` environment variables, and the password as a [`Secret`] that never prints.
//!
//! # URL
//! `mssql://USER@HOST[:PORT][?encrypt=…&trust_server_certificate=…&ca_file=…&connect_timeout=…]`
//! (`sqlserver://` is accepted too). A password in the URL is refused: a URL is usually
//! given on a command line, which every user of the machine can read. The password comes
//! from `MSSQL_PASSWORD`, or from the caller ([`MssqlConfig::with_password`]; the AWS
//! pipeline reads it from an SSM SecureString and hands it over as a [`Secret`]).
//!
//! # Environment
//! `MSSQL_HOST` (required for this form), `MSSQL_PORT` (1433), `MSSQL_USER` (`sa`),
//! `MSSQL_PASSWORD`, `MSSQL_ENCRYPT`, `MSSQL_TRUST_SERVER_CERTIFICATE`, `MSSQL_CA_FILE`.
//!
//! # TLS
//! `encrypt` is `required` by default: the whole session is encrypted (TLS inside TDS
//! pre-login), or the connection fails. `on` encrypts when the server can, `off` encrypts
//! the login packet only, `strict` is TDS 8.0 (TLS before pre-login, SQL Server 2022+).
//! The server certificate is checked against the system roots unless `ca_file` names a
//! PEM file to trust instead, or `trust_server_certificate=true` accepts any certificate:
//! only for a server on the same machine or a private link, e.g. SQL Server on Linux,
//! whose default certificate is self-signed. These map to tiberius' `Config::encryption`,
//! `trust_cert_ca` and `trust_cert`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A password or other secret. `Debug` prints `Secret(…)` without the value, there is no
/// `Display` and no serde, so it cannot reach a log or a report by accident.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }
    /// The value, for the one place that sends it (the TDS login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How much of the session is encrypted (tiberius `EncryptionLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encrypt {
    /// Only the login packet.
    Off,
    /// Everything, when the server supports it.
    On,
    /// Everything, or no connection (the default).
    #[default]
    Required,
    /// TDS 8.0: TLS before the pre-login (SQL Server 2022 and later).
    Strict,
}

impl Encrypt {
    fn parse(s: &str) -> Result<Encrypt, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "false" | "no" => Ok(Encrypt::Off),
            "on" | "true" | "yes" => Ok(Encrypt::On),
            "required" | "mandatory" => Ok(Encrypt::Required),
            "strict" => Ok(Encrypt::Strict),
            other => Err(ConfigError(format!("encrypt must be off, on, required or strict, not {other:?}"))),
        }
    }
}

/// Which server certificates are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CertTrust {
    /// Certificates that chain to the system's root certificates (the default).
    #[default]
    System,
    /// Certificates that chain to the PEM certificate(s) in this file.
    CaFile(PathBuf),
    /// Any certificate (`TrustServerCertificate=true`): encrypted but not authenticated.
    AnyCertificate,
}

/// A configuration that cannot be used. The message never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQL Server connection: {0}")]
pub struct ConfigError(pub String);

/// How to reach and log in to the SQL Server the `sqlserver` engine restores into.
/// `Debug` is safe to log: the password is a [`Secret`].
#[derive(Debug, Clone)]
pub struct MssqlConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port (1433).
    pub port: u16,
    /// SQL Server login (`sa`). It needs `sysadmin`, or `dbcreator` plus `VIEW SERVER
    /// STATE` for progress; see the README's "sqlserver engine" section.
    pub user: String,
    /// The login's password; `None` until supplied.
    pub password: Option<Secret>,
    /// Encryption of the session.
    pub encrypt: Encrypt,
    /// Which server certificates are trusted.
    pub trust: CertTrust,
    /// Time allowed for the TCP connection and login.
    pub connect_timeout: Duration,
}

/// Default TCP port of SQL Server.
pub const DEFAULT_PORT: u16 = 1433;
/// Default login.
pub const DEFAULT_USER: &str = "sa";

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(ConfigError(format!("{key} must be true or false, not {other:?}"))),
    }
}

fn percent_decode(s: &str) -> Result<String, ConfigError> {
    // percent-encoding passes a malformed escape through; a URL with one is refused here.
    let well_formed = s
        .match_indices('%')
        .all(|(i, _)| s.get(i + 1..i + 3).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if !well_formed {
        return Err(ConfigError("bad percent-escape in the URL".into()));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ConfigError("the URL is not UTF-8 after percent-decoding".into()))
}

impl MssqlConfig {
    /// A configuration for `host` with every default: port 1433, user `sa`, no password
    /// yet, `encrypt=required`, system roots, 30 s connect timeout.
    pub fn new(host: impl Into<String>) -> Self {
        MssqlConfig {
            host: host.into(),
            port: DEFAULT_PORT,
            user: DEFAULT_USER.into(),
            password: None,
            encrypt: Encrypt::default(),
            trust: CertTrust::default(),
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// Parses `mssql://USER@HOST[:PORT][/][?options]` (see the module docs).
    ///
    /// # Errors
    /// Another scheme, a password in the URL, no host, a bad port or option. Messages
    /// quote no part of the URL's user-info.
    pub fn from_url(url: &str) -> Result<MssqlConfig, ConfigError> {
        let rest = url
            .strip_prefix("mssql://")
            .or_else(|| url.strip_prefix("sqlserver://"))
            .ok_or_else(|| ConfigError("the URL must start with mssql:// or sqlserver://".into()))?;
        let (authority_path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = authority_path.split_once('/').unwrap_or((authority_path, ""));
        if !path.is_empty() {
            return Err(ConfigError(
                "the URL names no database (the engine restores into a database of its own): remove the path".into(),
            ));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut cfg = MssqlConfig::new("");
        if let Some(u) = userinfo {
            if u.contains(':') {
                return Err(ConfigError(
                    "a password in the URL is refused (command lines are visible to every user): \
                     give it in MSSQL_PASSWORD"
                        .into(),
                ));
            }
            if !u.is_empty() {
                cfg.user = percent_decode(u)?;
            }
        }
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [IPv6]:port
            let (h, p) = h.split_once(']').ok_or_else(|| ConfigError("unterminated [IPv6] host".into()))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(ConfigError("the URL names no host".into()));
        }
        cfg.host = percent_decode(&host)?;
        if let Some(p) = port {
            cfg.port = p.parse().map_err(|_| ConfigError(format!("port {p:?} is not a number from 1 to 65535")))?;
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v)?;
            cfg.set_option(&k.to_ascii_lowercase(), &v)?;
        }
        Ok(cfg)
    }

    fn set_option(&mut self, key: &str, v: &str) -> Result<(), ConfigError> {
        match key {
            "encrypt" => self.encrypt = Encrypt::parse(v)?,
            "trust_server_certificate" | "trustservercertificate" => {
                if parse_bool(key, v)? {
                    self.trust = CertTrust::AnyCertificate;
                }
            }
            "ca_file" | "ca" => {
                if !v.is_empty() {
                    self.trust = CertTrust::CaFile(PathBuf::from(v));
                }
            }
            "connect_timeout" => {
                let s: u64 = v.parse().map_err(|_| ConfigError(format!("connect_timeout {v:?} is not seconds")))?;
                self.connect_timeout = Duration::from_secs(s.max(1));
            }
            "password" => {
                return Err(ConfigError(
                    "a password in the URL is refused (command lines are visible to every user): \
                     give it in MSSQL_PASSWORD"
                        .into(),
                ));
            }
            other => {
                return Err(ConfigError(format!(
                    "unknown option {other:?} (known: encrypt, trust_server_certificate, ca_file, connect_timeout)"
                )));
            }
        }
        Ok(())
    }

    /// The configuration from `MSSQL_HOST`, `MSSQL_PORT`, `MSSQL_USER`, `MSSQL_PASSWORD`,
    /// `MSSQL_ENCRYPT`, `MSSQL_TRUST_SERVER_CERTIFICATE` and `MSSQL_CA_FILE`, read through
    /// `get` (`|k| std::env::var(k).ok()` in the agent). `None` when `MSSQL_HOST` is unset.
    ///
    /// # Errors
    /// A bad port or option value.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<MssqlConfig>, ConfigError> {
        let Some(host) = get("MSSQL_HOST").filter(|h| !h.trim().is_empty()) else { return Ok(None) };
        let mut cfg = MssqlConfig::new(host.trim());
        if let Some(p) = get("MSSQL_PORT").filter(|p| !p.trim().is_empty()) {
            cfg.port = p.trim().parse().map_err(|_| ConfigError(format!("MSSQL_PORT {p:?} is not a port number")))?;
        }
        if let Some(u) = get("MSSQL_USER").filter(|u| !u.is_empty()) {
            cfg.user = u;
        }
        cfg.apply_env_options(&get)?;
        Ok(Some(cfg))
    }

    /// Applies `MSSQL_PASSWORD` (when no password is set yet) and the TLS variables
    /// (`MSSQL_ENCRYPT`, `MSSQL_TRUST_SERVER_CERTIFICATE`, `MSSQL_CA_FILE`) that are set.
    /// Used for a URL configuration too, since its password can only come from here.
    ///
    /// # Errors
    /// A bad option value.
    pub fn apply_env_options(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if self.password.is_none()
            && let Some(p) = get("MSSQL_PASSWORD")
        {
            self.password = Some(Secret::new(p));
        }
        if let Some(v) = get("MSSQL_ENCRYPT").filter(|v| !v.is_empty()) {
            self.set_option("encrypt", &v)?;
        }
        if let Some(v) = get("MSSQL_TRUST_SERVER_CERTIFICATE").filter(|v| !v.is_empty()) {
            self.set_option("trust_server_certificate", &v)?;
        }
        if let Some(v) = get("MSSQL_CA_FILE").filter(|v| !v.is_empty()) {
            self.set_option("ca_file", &v)?;
        }
        Ok(())
    }

    /// The same configuration with `password` (e.g. read from an SSM SecureString by the
    /// pipeline).
    pub fn with_password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// `host:port`, for reports and messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The tiberius configuration, logging in to `database` (`None`: the login's default,
    /// normally `master`).
    ///
    /// # Errors
    /// No password was supplied.
    pub fn tiberius(&self, database: Option<&str>) -> Result<tiberius::Config, ConfigError> {
        let password = self.password.as_ref().ok_or_else(|| {
            ConfigError(format!(
                "no password for login {:?} on {}: set MSSQL_PASSWORD (or let the pipeline read it from SSM)",
                self.user,
                self.server()
            ))
        })?;
        let mut c = tiberius::Config::new();
        c.host(&self.host);
        c.port(self.port);
        c.application_name("bak2pg");
        // tiberius bounds each server round-trip to 30 s by default (ADO.NET's command
        // timeout); a RESTORE of a large database is silent for longer than that between
        // its STATS messages.
        c.command_timeout(None);
        // Names in the catalog are UTF-16 that may hold lone surrogates, which strict
        // decoding turns into an aborted result; row values never go through it (they are
        // selected as bytes, see `read`).
        c.lossy_utf16_decoding(true);
        c.authentication(tiberius::AuthMethod::sql_server(&self.user, password.expose()));
        c.encryption(match self.encrypt {
            Encrypt::Off => tiberius::EncryptionLevel::Off,
            Encrypt::On => tiberius::EncryptionLevel::On,
            Encrypt::Required => tiberius::EncryptionLevel::Required,
            Encrypt::Strict => tiberius::EncryptionLevel::Strict,
        });
        match &self.trust {
            CertTrust::System => {}
            CertTrust::CaFile(p) => c.trust_cert_ca(p.display().to_string()),
            CertTrust::AnyCertificate => c.trust_cert(),
        }
        if let Some(db) = database {
            c.database(db);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(…)");
        let cfg = MssqlConfig::new("db").with_password(s);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert_eq!(cfg.password.as_ref().unwrap().expose(), "hunter2");
    }

    #[test]
    fn urls() {
        let c =
            MssqlConfig::from_url("mssql://loader@sql.example:14333?encrypt=strict&ca_file=/etc/ssl/sql.pem").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str()), ("sql.example", 14333, "loader"));
        assert_eq!(c.encrypt, Encrypt::Strict);
        assert_eq!(c.trust, CertTrust::CaFile("/etc/ssl/sql.pem".into()));
        assert!(c.password.is_none());
        let c = MssqlConfig::from_url("sqlserver://127.0.0.1?trust_server_certificate=true&connect_timeout=5").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str()), ("127.0.0.1", 1433, "sa"));
        assert_eq!(c.trust, CertTrust::AnyCertificate);
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        let c = MssqlConfig::from_url("mssql://dom%5Cuser@[::1]:1500/").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str()), ("::1", 1500, "dom\\user"));
        assert_eq!(c.server(), "[::1]:1500");
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        for (url, why) in [
            ("postgres://h", "mssql://"),
            ("mssql://sa:s3cret@h", "password in the URL is refused"),
            ("mssql://h?password=s3cret", "password in the URL is refused"),
            ("mssql://h/master", "remove the path"),
            ("mssql://@:1433", "no host"),
            ("mssql://h:99999", "not a number"),
            ("mssql://h?encrypt=maybe", "encrypt must be"),
            ("mssql://h?colour=blue", "unknown option"),
        ] {
            let e = MssqlConfig::from_url(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn environment() {
        let env: HashMap<&str, &str> = [
            ("MSSQL_HOST", "10.0.0.5"),
            ("MSSQL_PORT", "1533"),
            ("MSSQL_USER", "loader"),
            ("MSSQL_PASSWORD", "pw"),
            ("MSSQL_TRUST_SERVER_CERTIFICATE", "true"),
        ]
        .into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let c = MssqlConfig::from_env(get).unwrap().unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str()), ("10.0.0.5", 1533, "loader"));
        assert_eq!(c.trust, CertTrust::AnyCertificate);
        assert_eq!(c.password.unwrap().expose(), "pw");
        assert!(MssqlConfig::from_env(|_| None).unwrap().is_none());
        assert!(MssqlConfig::from_env(|k| (k == "MSSQL_HOST" || k == "MSSQL_PORT").then(|| "x".into())).is_err());
        // A URL takes its password from the environment; a supplied one wins.
        let mut c = MssqlConfig::from_url("mssql://h").unwrap().with_password(Secret::new("from-ssm"));
        c.apply_env_options(&|k: &str| (k == "MSSQL_PASSWORD").then(|| "from-env".to_string())).unwrap();
        assert_eq!(c.password.unwrap().expose(), "from-ssm");
    }

    #[test]
    fn tiberius_config_needs_a_password() {
        let c = MssqlConfig::new("h");
        let e = c.tiberius(None).unwrap_err().to_string();
        assert!(e.contains("MSSQL_PASSWORD"), "{e}");
        let c = c.with_password(Secret::new("x"));
        let t = c.tiberius(Some("db")).unwrap();
        assert_eq!(t.get_addr(), "h:1433");
        assert_eq!(t.get_command_timeout(), None, "a RESTORE may take hours");
        assert!(t.get_lossy_utf16_decoding());
    }
}
