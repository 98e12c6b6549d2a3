//! Debug aid: prints every table with its row count (`cargo run --example count_rows -- FILE`).

use mssql_backup::backup::Backup;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let b = Backup::open(&[Path::new(&args[1])]).unwrap_or_else(|e| panic!("{e}"));
    let (db, layouts) = b.schema().unwrap_or_else(|e| panic!("{e}"));
    println!("database {} tables {} modules {}", db.name, db.tables.len(), db.modules.len());
    for (t, l) in db.tables.iter().zip(&layouts) {
        let n = b.rows(t, l).and_then(|r| r.count());
        match n {
            Ok(s) => println!(
                "{:>8} {}.{} (pages {}, ghosts {}, stubs {}, hint {:?})",
                s.rows, t.schema, t.name, s.pages, s.ghosts, s.forwarding_stubs, t.row_count_hint
            ),
            Err(e) => println!("   ERROR {}.{}: {e}", t.schema, t.name),
        }
    }
}
