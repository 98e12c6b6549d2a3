//! Errors of the engine: SQL Server's own messages with the server, what was being done,
//! and a hint when the remedy is known.

use crate::source::SourceError;

/// A [`SourceError::Other`] with `msg`.
pub(super) fn other(msg: impl Into<String>) -> SourceError {
    SourceError::Other(msg.into())
}

/// `e` as a [`SourceError::Engine`]: its text is the message, `e` the source.
pub(super) fn engine(e: impl std::error::Error + Send + Sync + 'static) -> SourceError {
    SourceError::Engine { message: e.to_string(), source: Box::new(e) }
}

/// `e` as a [`SourceError::Engine`] whose message says where first (`{context}: {e}`).
pub(super) fn engine_in(
    context: impl std::fmt::Display,
    e: impl std::error::Error + Send + Sync + 'static,
) -> SourceError {
    SourceError::Engine { message: format!("{context}: {e}"), source: Box::new(e) }
}

/// A short hint for SQL Server errors whose remedy is known.
fn hint(code: u32) -> &'static str {
    match code {
        // Operating system error on the backup device.
        3201 => {
            " (SQL Server cannot open the backup copy: check that it reads the backup directory, \
                 and that the local and server paths of that directory are the same place)"
        }
        // Backup from a version this server cannot restore.
        3169 => {
            " (this SQL Server cannot restore a backup of that version: SQL Server 2016 and later \
                 restore backups of 2008 and later; use an intermediate server, or --engine native)"
        }
        5133 | 5120 | 3156 => " (check the data and log directories given for the restored files)",
        3241 | 3242 | 3203 | 3183 | 3189 => " (the backup file is damaged or incomplete)",
        262 | 229 | 3110 => " (the login may not restore databases: it needs sysadmin or dbcreator)",
        18456 => " (login failed: check MSSQL_USER and MSSQL_PASSWORD)",
        _ => "",
    }
}

/// `e` as a [`SourceError::SqlServer`]: the server, what was being done and SQL Server's
/// error (number, severity, message) with its hint; TLS failures say how to trust the server.
pub(super) fn sql_error(server: &str, what: &str, e: tiberius::error::Error) -> SourceError {
    let message = match &e {
        tiberius::error::Error::Server(t) => format!(
            "SQL Server {server}: {what}: error {} (severity {}): {}{}",
            t.code(),
            t.class(),
            t.message(),
            hint(t.code())
        ),
        tiberius::error::Error::Tls(m) => format!(
            "SQL Server {server}: {what}: TLS: {m} (trust the server's certificate with ca_file=PEM, or, for a \
             server on this machine only, trust_server_certificate=true)"
        ),
        _ => format!("SQL Server {server}: {what}: {e}"),
    };
    SourceError::SqlServer { message, source: Box::new(e) }
}

#[cfg(test)]
mod tests {
    use super::super::client::RowError;
    use super::*;

    #[test]
    fn engine_errors_keep_their_source() {
        let row = || RowError::Null { what: "reading sys.tables".into(), column: "name".into() };
        let e = engine(row());
        assert_eq!(e.to_string(), "reading sys.tables: column name is NULL");
        let source = std::error::Error::source(&e).expect("the row error");
        assert!(matches!(source.downcast_ref::<RowError>(), Some(RowError::Null { .. })), "{source:?}");

        let e = engine_in("table dbo.t", row());
        assert_eq!(e.to_string(), "table dbo.t: reading sys.tables: column name is NULL");
        assert!(std::error::Error::source(&e).and_then(|s| s.downcast_ref::<RowError>()).is_some());
    }
}
