//! Lists the tables of a backup with their columns, and prints the first rows of each.
//!
//! `cargo run -p mssql-backup --example read_tables -- pubs.bak`

use std::error::Error;
use std::io::Write;
use std::path::Path;

use mssql_backup::Backup;

fn main() -> Result<(), Box<dyn Error>> {
    let path = std::env::args().nth(1).ok_or("usage: read_tables BACKUP.bak")?;
    print_tables(Path::new(&path), &mut std::io::stdout().lock())
}

/// Writes to `out` what the backup at `path` holds: each table, its columns and types,
/// its first three rows and its row count.
pub fn print_tables(path: &Path, out: &mut impl Write) -> Result<(), Box<dyn Error>> {
    let backup = Backup::open(&[path])?;
    let header = &backup.description().header;
    writeln!(out, "{}: {}, started {}", backup.database_name(), header.backup_type, header.start)?;

    // A striped backup given one stripe, or a cut file, lacks pages: say so first.
    let completeness = backup.completeness();
    if !completeness.complete {
        writeln!(out, "incomplete: {}", completeness.problems.join("; "))?;
    }

    for table in &backup.database()?.tables {
        let columns: Vec<String> = table.columns.iter().map(|c| format!("{} {}", c.name, c.ty)).collect();
        writeln!(out, "{} ({})", table.qualified_name(), columns.join(", "))?;
        let mut rows = backup.rows(table)?;
        let mut shown = 0;
        while let Some(row) = rows.next_row()? {
            // One `Value` per column, in `table.columns` order.
            if shown < 3 {
                writeln!(out, "  {row:?}")?;
                shown += 1;
            }
        }
        writeln!(out, "  {} rows", rows.stats().rows)?;
    }
    Ok(())
}
