//! Choosing one backup when an archive holds several.
//!
//! The rule: a full database backup beats anything else; among those, the latest backup
//! start date wins; then the latest member modification time; then the larger file; then
//! the first in archive order.
//!
//! [`read_header_facts`] is the only place that reads a backup header, through
//! `mssql_backup`'s `RESTORE HEADERONLY` equivalent; everything else here works on the
//! facts it returns, so a candidate whose header cannot be read is still ranked (below
//! every readable one).

use std::path::Path;
use std::time::SystemTime;

use mssql_backup::{BackupDescription, BackupType, Timestamp};

use super::BackupContainer;
use super::timefmt::{self, format_utc};

/// The backup-header facts the choice uses (what RESTORE HEADERONLY would show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderFacts {
    /// True for a full database backup (`BackupType` 1), false for differential, log,
    /// file or partial backups.
    pub full_database: bool,
    /// When the backup started, as a time to compare (converted to UTC when the header
    /// records the server's offset), when the header records it.
    pub backup_start: Option<SystemTime>,
    /// The start as the header states it (server local time, with its UTC offset when
    /// known), for notes.
    pub backup_start_label: Option<String>,
    /// The database the backup is of, when known.
    pub database_name: Option<String>,
}

/// One extracted backup-named member, described for the choice.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Rank in extraction (archive) order; the earlier wins ties.
    pub order: usize,
    pub member: String,
    pub size: u64,
    pub container: BackupContainer,
    /// Member modification time from the archive.
    pub modified: Option<SystemTime>,
    /// `None` when the header could not be read (or, until wired, always).
    pub header: Option<HeaderFacts>,
}

/// Reads the facts of the backup header of the file at `path` (either container: the
/// reader tells them apart by their magic, as [`super::magic`] did);
/// `None` when `mssql_backup` cannot read it (the reason is logged at debug level: the
/// choice only needs to rank it last, and the next step reports a chosen backup's faults in
/// full).
pub(crate) fn read_header_facts(path: &Path) -> Option<HeaderFacts> {
    let description = match read_description(path) {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(file = %path.display(), error = %e, "backup header unreadable");
            return None;
        }
    };
    let h = &description.header;
    Some(HeaderFacts {
        full_database: h.backup_type == BackupType::Database,
        backup_start: to_system_time(&h.start),
        backup_start_label: Some(h.start.to_string()),
        database_name: Some(h.database_name.clone()).filter(|n| !n.is_empty()),
    })
}

/// `RESTORE HEADERONLY` from the MTF blocks alone (no page index, no catalog), of the set
/// a migration would read: the last full database backup set of the file.
fn read_description(path: &Path) -> mssql_backup::Result<BackupDescription> {
    let mut sets = mssql_backup::read_backup_sets(path)?;
    let chosen = mssql_backup::choose_set(&sets, None).map_err(|e| e.with_file(path))?;
    Ok(sets.swap_remove(chosen))
}

/// A header timestamp as a comparable time: UTC when the offset is known (UTC = local −
/// offset), else the local time taken as is.
fn to_system_time(t: &Timestamp) -> Option<SystemTime> {
    let local = timefmt::from_civil(
        i64::from(t.year),
        u32::from(t.month),
        u32::from(t.day),
        u32::from(t.hour),
        u32::from(t.minute),
        u32::from(t.second),
    )?;
    let offset = i64::from(t.utc_offset_minutes.unwrap_or(0)) * 60;
    let shift = std::time::Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 { local.checked_sub(shift) } else { local.checked_add(shift) }
}

/// Full backups first; unknown type next; known non-full (differential, log) last.
fn type_rank(c: &Candidate) -> u8 {
    match &c.header {
        Some(h) if h.full_database => 2,
        None => 1,
        Some(_) => 0,
    }
}

fn key(c: &Candidate) -> (u8, Option<SystemTime>, Option<SystemTime>, u64) {
    (type_rank(c), c.header.as_ref().and_then(|h| h.backup_start), c.modified, c.size)
}

/// True when `challenger` should replace `best` (strictly better: ties keep the earlier).
pub(crate) fn beats(challenger: &Candidate, best: &Candidate) -> bool {
    key(challenger) > key(best)
}

/// A note saying which of `all` was chosen and on what grounds.
pub(crate) fn explain(all: &[Candidate], chosen: &Candidate) -> String {
    let others: Vec<&Candidate> = all.iter().filter(|c| c.order != chosen.order).collect();
    let runner_up = others.iter().copied().reduce(|a, b| if beats(b, a) { b } else { a });
    let why = match runner_up {
        None => "the only one".to_owned(),
        Some(r) => reason(chosen, r),
    };
    let names: Vec<String> = others.iter().map(|c| format!("{:?}", c.member)).collect();
    let database = chosen
        .header
        .as_ref()
        .and_then(|h| h.database_name.as_deref())
        .map(|d| format!(" (database {d:?})"))
        .unwrap_or_default();
    format!(
        "{} backups in the archive; chose {:?}{database}: {why}; deleted the others ({})",
        all.len(),
        chosen.member,
        names.join(", ")
    )
}

/// Says which part of the key separated `chosen` from `other`.
fn reason(chosen: &Candidate, other: &Candidate) -> String {
    let header = if chosen.header.is_none() {
        " (backup headers not read yet, so the archive's member dates decided)"
    } else {
        ""
    };
    if type_rank(chosen) != type_rank(other) {
        return "the only full database backup among them".to_owned();
    }
    let (cs, os) =
        (chosen.header.as_ref().and_then(|h| h.backup_start), other.header.as_ref().and_then(|h| h.backup_start));
    if cs != os {
        let when =
            chosen.header.as_ref().and_then(|h| h.backup_start_label.clone()).unwrap_or_else(|| "unknown".into());
        return format!("the newest full database backup (started {when})");
    }
    if chosen.modified != other.modified {
        let when = chosen.modified.map(format_utc).unwrap_or_else(|| "unknown".into());
        return format!("the most recently modified member, {when}{header}");
    }
    if chosen.size != other.size {
        return format!("the largest, {} bytes, among equally dated ones{header}", chosen.size);
    }
    format!("the first in archive order (the others were indistinguishable){header}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::timefmt::from_civil;

    fn cand(order: usize, full: Option<bool>, start: Option<(i64, u32)>, modified: Option<(i64, u32)>) -> Candidate {
        let at = |(y, m): (i64, u32)| from_civil(y, m, 1, 0, 0, 0).unwrap();
        Candidate {
            order,
            member: format!("m{order}.bak"),
            size: 100,
            container: BackupContainer::Mtf,
            modified: modified.map(at),
            header: full.map(|f| HeaderFacts {
                full_database: f,
                backup_start: start.map(at),
                backup_start_label: start.map(|(y, m)| format!("{y:04}-{m:02}-01T00:00:00")),
                database_name: None,
            }),
        }
    }

    fn choose(all: &[Candidate]) -> usize {
        let mut best = &all[0];
        for c in &all[1..] {
            if beats(c, best) {
                best = c;
            }
        }
        best.order
    }

    #[test]
    fn header_dates_beat_member_dates() {
        // m0 was modified later, but m1's backup started later: the header wins.
        let all = [
            cand(0, Some(true), Some((2011, 1)), Some((2024, 1))),
            cand(1, Some(true), Some((2019, 5)), Some((2019, 5))),
        ];
        assert_eq!(choose(&all), 1);
        assert!(
            explain(&all, &all[1]).contains("newest full database backup (started 2019-05-01"),
            "{}",
            explain(&all, &all[1])
        );
    }

    #[test]
    fn full_backups_beat_newer_differentials() {
        let all = [cand(0, Some(false), Some((2024, 1)), None), cand(1, Some(true), Some((2019, 5)), None)];
        assert_eq!(choose(&all), 1);
        assert!(explain(&all, &all[1]).contains("only full database backup"));
    }

    #[test]
    fn without_headers_member_dates_decide() {
        let all =
            [cand(0, None, None, Some((2011, 8))), cand(1, None, None, Some((2019, 5))), cand(2, None, None, None)];
        assert_eq!(choose(&all), 1);
        let note = explain(&all, &all[1]);
        assert!(
            note.starts_with("3 backups in the archive; chose \"m1.bak\": the most recently modified member"),
            "{note}"
        );
        assert!(note.contains("headers not read"), "{note}");
        assert!(note.contains("\"m0.bak\", \"m2.bak\""), "{note}");
    }

    #[test]
    fn header_times_convert_with_their_utc_offset() {
        let t =
            Timestamp { year: 2019, month: 5, day: 5, hour: 17, minute: 55, second: 37, utc_offset_minutes: Some(120) };
        assert_eq!(to_system_time(&t).map(format_utc).as_deref(), Some("2019-05-05 15:55:37 UTC"));
        let local = Timestamp { utc_offset_minutes: None, ..t };
        assert_eq!(to_system_time(&local).map(format_utc).as_deref(), Some("2019-05-05 17:55:37 UTC"));
        let west = Timestamp { utc_offset_minutes: Some(-300), ..t };
        assert_eq!(to_system_time(&west).map(format_utc).as_deref(), Some("2019-05-05 22:55:37 UTC"));
    }

    #[test]
    fn ties_keep_the_first() {
        let all = [cand(0, None, None, None), cand(1, None, None, None)];
        assert_eq!(choose(&all), 0);
        assert!(explain(&all, &all[0]).contains("first in archive order"));
    }
}
