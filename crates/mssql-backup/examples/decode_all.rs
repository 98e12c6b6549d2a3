//! Debug aid: decodes every row of every table; prints per-table counts, the first error,
//! and a sample row (`cargo run --example decode_all -- FILE [TABLE]`).

use mssql_backup::Backup;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let b = Backup::open(&[Path::new(&args[0])]).unwrap_or_else(|e| panic!("{e}"));
    let db = b.database().unwrap_or_else(|e| panic!("{e}"));
    for t in &db.tables {
        if let Some(only) = args.get(1)
            && &t.name != only
        {
            continue;
        }
        let mut r = b.rows(t).unwrap();
        let mut n = 0;
        let mut sample = None;
        loop {
            match r.next_row() {
                Ok(Some(row)) => {
                    n += 1;
                    if sample.is_none() {
                        sample = Some(format!("{row:?}"));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    println!("   ERROR after {n} rows: {e}");
                    break;
                }
            }
        }
        println!("{n:>8} {}.{} stats {:?}", t.schema, t.name, r.stats());
        if let Some(s) = sample {
            println!("         {}", s.chars().take(600).collect::<String>());
        }
    }
}
