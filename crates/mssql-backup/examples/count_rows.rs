//! Debug aid: prints every table with its row count (`cargo run --example count_rows -- FILE...`).

use mssql_backup::Backup;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths: Vec<&Path> = args.iter().map(Path::new).collect();
    let salvage = std::env::var("SALVAGE").is_ok();
    let b = Backup::open_with(&paths, mssql_backup::OpenOptions { salvage, ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"));
    let c = b.completeness();
    println!("complete: {} problems: {:?}", c.complete, c.problems);
    let db = match b.database() {
        Ok(db) => db,
        Err(e) => {
            println!("catalog: {e}");
            return;
        }
    };
    println!("database {} tables {} modules {}", db.name, db.tables.len(), db.modules.len());
    for t in &db.tables {
        match b.rows(t).and_then(|r| r.count()) {
            Ok(s) => println!(
                "{:>8} {}.{} (pages {}, ghosts {}, stubs {})",
                s.rows, t.schema, t.name, s.pages, s.ghosts, s.forwarding_stubs
            ),
            Err(e) => println!("   ERROR {}.{}: {e}", t.schema, t.name),
        }
    }
}
