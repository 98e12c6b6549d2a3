//! Choosing the engine (`--engine auto|native|sqlserver`) and saying why: one rule for
//! the `migrate` command and the pipeline's steps.
//!
//! `auto` takes the native reader when it opened the backup and supports everything it
//! holds ([`NativeSource::unsupported_features`](super::native::NativeSource::unsupported_features)
//! is empty); otherwise the `sqlserver` engine when a SQL Server is configured, and
//! otherwise it refuses, naming what the native reader cannot read and how to configure
//! the `sqlserver` engine. A backup the native reader finds incomplete, damaged or not a
//! backup at all is refused whatever the choice: SQL Server could not restore it either,
//! and a partial database must never look complete.

use super::SourceError;

pub use crate::job::EngineChoice;

/// What to do, with the reason the report gives (`engine_reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Read the backup natively.
    Native(String),
    /// Restore it on SQL Server.
    SqlServer(String),
    /// Neither: the message says why and what to do.
    Refuse(String),
}

/// How to configure the sqlserver engine, for messages.
pub const CONFIGURE_SQLSERVER: &str = "configure the sqlserver engine with --mssql mssql://USER@HOST[:PORT] \
     (or MSSQL_HOST, MSSQL_PORT, MSSQL_USER) and the password in MSSQL_PASSWORD";

/// Decides which engine reads the backup.
///
/// `native` is the native reader's verdict: the features it cannot read (empty: it
/// reads everything), or the error it met opening the backup. `sqlserver_configured`:
/// a SQL Server connection is configured.
pub fn decide(choice: EngineChoice, native: Result<&[String], &SourceError>, sqlserver_configured: bool) -> Decision {
    // Errors the SQL Server could get past: features of the format this reader does not
    // support (e.g. an encrypted backup whose certificate the server holds).
    let unsupported =
        |e: &SourceError| matches!(e, SourceError::Backup(b) if b.kind == mssql_backup::ErrorKind::Unsupported);
    match (choice, native) {
        (EngineChoice::Native, Ok(_)) => Decision::Native("requested with --engine native".into()),
        (EngineChoice::Native, Err(e)) => Decision::Refuse(e.to_string()),
        (EngineChoice::Sqlserver, Err(e)) if !unsupported(e) => Decision::Refuse(e.to_string()),
        (EngineChoice::Sqlserver, _) if sqlserver_configured => {
            Decision::SqlServer("requested with --engine sqlserver".into())
        }
        (EngineChoice::Sqlserver, _) => {
            Decision::Refuse(format!("--engine sqlserver needs a SQL Server: {CONFIGURE_SQLSERVER}"))
        }
        (EngineChoice::Auto, Ok([])) => {
            Decision::Native("auto: the native reader supports everything this backup holds".into())
        }
        (EngineChoice::Auto, Ok(features)) if sqlserver_configured => Decision::SqlServer(format!(
            "auto: the native reader cannot read {}; restored on SQL Server instead",
            features.join("; ")
        )),
        (EngineChoice::Auto, Ok(features)) => Decision::Refuse(format!(
            "the native reader cannot read {}; to restore this backup on SQL Server instead, {CONFIGURE_SQLSERVER}",
            features.join("; ")
        )),
        (EngineChoice::Auto, Err(e)) if unsupported(e) && sqlserver_configured => Decision::SqlServer(format!(
            "auto: the native reader does not support this backup ({e}); restored on SQL Server instead"
        )),
        (EngineChoice::Auto, Err(e)) if unsupported(e) => {
            Decision::Refuse(format!("{e}; to restore this backup on SQL Server instead, {CONFIGURE_SQLSERVER}"))
        }
        (EngineChoice::Auto, Err(e)) => Decision::Refuse(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: mssql_backup::ErrorKind) -> SourceError {
        SourceError::Backup(mssql_backup::Error::new(kind, "boom"))
    }

    #[test]
    fn decisions() {
        use EngineChoice::*;
        let none: &[String] = &[];
        let some = ["Sales.Orders: Page data compression".to_string(), "dbo.T.j: type json".to_string()];
        let incomplete = err(mssql_backup::ErrorKind::Incomplete);
        let unsupported = err(mssql_backup::ErrorKind::Unsupported);

        assert_eq!(decide(Native, Ok(&some), true), Decision::Native("requested with --engine native".into()));
        assert!(matches!(decide(Native, Err(&unsupported), true), Decision::Refuse(_)));
        assert_eq!(decide(Sqlserver, Ok(none), true), Decision::SqlServer("requested with --engine sqlserver".into()));
        assert_eq!(
            decide(Sqlserver, Err(&unsupported), true),
            Decision::SqlServer("requested with --engine sqlserver".into())
        );
        assert!(matches!(decide(Sqlserver, Ok(none), false), Decision::Refuse(m) if m.contains("MSSQL_PASSWORD")));
        // An incomplete backup is refused by every engine.
        for c in [Auto, Native, Sqlserver] {
            assert!(matches!(decide(c, Err(&incomplete), true), Decision::Refuse(_)), "{c:?}");
        }
        assert_eq!(
            decide(Auto, Ok(none), true),
            Decision::Native("auto: the native reader supports everything this backup holds".into())
        );
        let Decision::SqlServer(why) = decide(Auto, Ok(&some), true) else { panic!() };
        assert_eq!(
            why,
            "auto: the native reader cannot read Sales.Orders: Page data compression; dbo.T.j: type json; \
             restored on SQL Server instead"
        );
        let Decision::Refuse(why) = decide(Auto, Ok(&some), false) else { panic!() };
        assert!(
            why.starts_with("the native reader cannot read Sales.Orders: Page data compression; dbo.T.j: type json;")
        );
        assert!(why.contains("--mssql mssql://USER@HOST"), "{why}");
        assert!(matches!(decide(Auto, Err(&unsupported), true), Decision::SqlServer(w) if w.contains("boom")));
        assert!(matches!(decide(Auto, Err(&unsupported), false), Decision::Refuse(w) if w.contains("MSSQL_HOST")));
    }
}
