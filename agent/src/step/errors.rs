//! Engine errors as the pipeline's classified [`StepError`]s.

use std::path::Path;

use bak2pg::archive;
use bak2pg::job::{ErrorClass, ErrorCode, StepError};
use bak2pg::target::MigrateError;

pub(super) fn io_err(action: &str, path: &Path, e: std::io::Error) -> StepError {
    StepError::transient(ErrorCode::Io, format!("{action} {}: {e}", path.display()))
}

pub(super) fn migrate_err(e: MigrateError) -> StepError {
    let class = if e.is_transient() { ErrorClass::Transient } else { ErrorClass::Permanent };
    let code = format!(
        "{}_{}",
        e.step,
        serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    );
    StepError { class, code: ErrorCode::Derived(code), message: e.to_string() }
}

pub(super) fn archive_err(e: archive::ArchiveError) -> StepError {
    let class = match e.class() {
        archive::ErrorClass::Permanent => ErrorClass::Permanent,
        archive::ErrorClass::Transient => ErrorClass::Transient,
    };
    StepError { class, code: ErrorCode::from(e.code().to_string()), message: e.to_string() }
}

pub(super) fn source_err(e: bak2pg::source::SourceError) -> StepError {
    use bak2pg::source::SourceError;
    match &e {
        SourceError::Backup(b) if b.kind == mssql_backup::ErrorKind::Io => {
            StepError::transient(ErrorCode::Io, e.to_string())
        }
        SourceError::Backup(b) => {
            let code = serde_json::to_value(b.kind)
                .ok()
                .and_then(|v| v.as_str().map(|s| format!("backup_{}", s.to_lowercase())))
                .unwrap_or_else(|| "backup".into());
            StepError::permanent(ErrorCode::Derived(code), e.to_string())
        }
        SourceError::SqlServer { .. } | SourceError::Engine { .. } | SourceError::Other(_) => {
            StepError::permanent(ErrorCode::Source, e.to_string())
        }
    }
}
