//! Debug aid: every module of a backup with what the translator makes of it
//! (`cargo run -p bak2pg --example modules -- FILE [--sql]`).

use std::path::Path;

use bak2pg::ddl::{self, PlanOptions};
use mssql_backup::Backup;

fn main() {
    let path = std::env::args().nth(1).expect("a backup file");
    let sql = std::env::args().any(|a| a == "--sql");
    let b = Backup::open(&[Path::new(&path)]).unwrap_or_else(|e| panic!("{e}"));
    let db = b.database().unwrap_or_else(|e| panic!("{e}"));
    let opts = PlanOptions::default();
    let plan = ddl::plan(db, &opts).unwrap_or_else(|e| panic!("{e}"));
    for m in bak2pg::translate::translate_modules(db, &plan, &opts.schema_map) {
        match &m.reason {
            Some(r) => println!("NO  {} {}.{}: {r}", m.kind, m.schema, m.name),
            None => println!("YES {} {}.{} → {}", m.kind, m.schema, m.name, m.qualified_target().unwrap_or_default()),
        }
        if sql {
            if let Some(s) = &m.view_sql {
                println!("{s}\n");
            }
            if let Some(f) = &m.function {
                println!("{:?}\n{}\n", f.params, f.query);
            }
        }
    }
}
