//! The one extraction driver, the same for every format: checks the member list, picks the
//! backup members, checks sizes and free space, has the format's [`ArchiveBackend`] write
//! the wanted members to the stage, keeps the best backup and reports the rest.

use std::path::Path;

use super::backend::{ArchiveBackend, Extraction};
use super::choose::{self, Candidate};
use super::magic::{self, Detected};
use super::member::{self, Member, MemberKind};
use super::stage::{Stage, StagedFile};
use super::{ArchiveError, ArchiveFormat, LimitKind, Limits, PreparedBackup, list_names, rar, sevenz, zipfmt};

/// Opens `archive` with the backend of its format.
fn open_backend(
    archive: &Path,
    format: ArchiveFormat,
    limits: &Limits,
) -> Result<Box<dyn ArchiveBackend>, ArchiveError> {
    fn open<B: ArchiveBackend + 'static>(
        archive: &Path,
        format: ArchiveFormat,
        limits: &Limits,
    ) -> Result<Box<dyn ArchiveBackend>, ArchiveError> {
        Ok(Box::new(B::open(archive, format, limits)?))
    }
    match format {
        ArchiveFormat::Rar4 | ArchiveFormat::Rar5 => open::<rar::RarArchive>(archive, format, limits),
        ArchiveFormat::Zip => open::<zipfmt::ZipFile>(archive, format, limits),
        ArchiveFormat::SevenZip => open::<sevenz::SevenZipFile>(archive, format, limits),
    }
}

/// Extracts the best backup member of `archive` into `work_dir` (see the module docs of
/// [`super`] for the checks and the choice).
pub(crate) fn extract_backup(
    archive: &Path,
    format: ArchiveFormat,
    work_dir: &Path,
    limits: &Limits,
) -> Result<PreparedBackup, ArchiveError> {
    let mut backend = open_backend(archive, format, limits)?;
    let members = backend.members();
    let mut notes = Vec::new();

    // Every check below reads only the member list: the archive is refused before
    // anything is written.
    for m in members {
        if let Err(reason) = member::check_name(&m.name) {
            return Err(ArchiveError::UnsafeMemberPath {
                archive: archive.to_path_buf(),
                member: m.name.clone(),
                reason: reason.to_owned(),
            });
        }
        match m.kind {
            MemberKind::File | MemberKind::Directory => {}
            MemberKind::Link(what) | MemberKind::Special(what) => {
                return Err(ArchiveError::UnsafeMemberPath {
                    archive: archive.to_path_buf(),
                    member: m.name.clone(),
                    reason: what.to_owned(),
                });
            }
        }
    }

    let (wanted, ignored): (Vec<usize>, Vec<usize>) = (0..members.len())
        .filter(|&i| members[i].kind == MemberKind::File && member::has_backup_extension(&members[i].name))
        .partition(|&i| !member::is_os_metadata(&members[i].name));
    if !ignored.is_empty() {
        notes.push(format!(
            "ignored {} macOS metadata member(s) named like backups: {}",
            ignored.len(),
            list_names(&names_of(members, &ignored, limits.listed_names), ignored.len() as u64)
        ));
    }
    if wanted.is_empty() {
        let total = members.len() as u64;
        return Err(ArchiveError::NoBackupInArchive {
            archive: archive.to_path_buf(),
            format,
            members: members.iter().take(limits.listed_names).map(|m| m.name.clone()).collect(),
            total,
        });
    }
    for &i in &wanted {
        let m = &members[i];
        if m.encrypted {
            return Err(ArchiveError::encrypted(archive, Some(&m.name), format!("{format} member encryption")));
        }
        if m.declared_size > limits.max_member_bytes {
            return Err(ArchiveError::TooLarge {
                archive: archive.to_path_buf(),
                member: Some(m.name.clone()),
                limit: LimitKind::MemberBytes,
                value: m.declared_size,
                max: limits.max_member_bytes,
            });
        }
    }
    let total: u64 = wanted.iter().map(|&i| members[i].declared_size).fold(0, u64::saturating_add);
    if total > limits.max_total_bytes {
        return Err(ArchiveError::TooLarge {
            archive: archive.to_path_buf(),
            member: None,
            limit: LimitKind::TotalBytes,
            value: total,
            max: limits.max_total_bytes,
        });
    }

    // At most two candidates are on disk at once: the best so far and the one just
    // extracted (the loser is deleted at once), so the two largest bound the need.
    let mut sizes: Vec<u64> = wanted.iter().map(|&i| members[i].declared_size).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let peak = sizes.iter().take(2).fold(0u64, |a, &b| a.saturating_add(b));
    std::fs::create_dir_all(work_dir).map_err(|e| ArchiveError::io(work_dir, "create the work folder", e))?;
    let available = fs4::available_space(work_dir).map_err(|e| ArchiveError::io(work_dir, "read the free space", e))?;
    let needed = peak.saturating_add(limits.min_free_bytes);
    if available < needed {
        return Err(ArchiveError::InsufficientSpace {
            work_dir: work_dir.to_path_buf(),
            archive: archive.to_path_buf(),
            needed,
            reserve: limits.min_free_bytes,
            available,
        });
    }

    let members = members.to_vec();
    let several = wanted.len() > 1;
    let stage = Stage::new(work_dir, archive)?;
    let mut best: Option<(Candidate, StagedFile)> = None;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut not_backups: Vec<(String, String)> = Vec::new();

    let mut done = |staged: StagedFile| {
        let m = &members[staged.member];
        let head = magic::read_head(&staged.path)?;
        let container = match magic::detect(&head) {
            Detected::Backup(c) => c,
            other => {
                not_backups.push((m.name.clone(), other.describe()));
                return stage.discard(staged);
            }
        };
        let candidate = Candidate {
            order: candidates.len(),
            member: m.name.clone(),
            size: staged.size,
            container,
            modified: m.modified,
            // Headers matter only to choose; with one candidate the next step reads it.
            header: if several { choose::read_header_facts(&staged.path) } else { None },
        };
        candidates.push(candidate.clone());
        match best.take() {
            Some((b, b_file)) if !choose::beats(&candidate, &b) => {
                best = Some((b, b_file));
                stage.discard(staged)
            }
            Some((_, b_file)) => {
                best = Some((candidate, staged));
                stage.discard(b_file)
            }
            None => {
                best = Some((candidate, staged));
                Ok(())
            }
        }
    };
    backend.extract(&mut Extraction::new(&wanted, &members, &stage, &mut done))?;

    for (name, looks_like) in &not_backups {
        notes.push(format!("skipped member {name:?}: not a SQL Server backup ({looks_like})"));
    }
    let Some((chosen, staged)) = best else {
        // Every backup-named member was something else: report the first.
        let (name, looks_like) = not_backups.into_iter().next().unwrap_or_default();
        return Err(ArchiveError::NotABackup { path: archive.to_path_buf(), member: Some(name), looks_like });
    };
    if candidates.len() > 1 {
        notes.push(choose::explain(&candidates, &chosen));
    }

    let target = member::output_path(work_dir, &chosen.member, archive);
    let size = staged.size;
    stage.keep(staged, &target)?;
    tracing::info!(
        archive = %archive.display(),
        %format,
        member = %chosen.member,
        size,
        output = %target.display(),
        "extracted the backup from the archive"
    );
    for note in &notes {
        tracing::info!(archive = %archive.display(), "{note}");
    }
    Ok(PreparedBackup {
        path: target,
        container: chosen.container,
        size,
        archive: Some(format),
        member: Some(chosen.member),
        extracted: true,
        notes,
    })
}

/// The names of the members at positions `idx`, the first `n` of them.
fn names_of(members: &[Member], idx: &[usize], n: usize) -> Vec<String> {
    idx.iter().take(n).map(|&i| members[i].name.clone()).collect()
}
