//! Debug aid: dumps base-table rows of a backup (`cargo run --example dump_catalog -- FILE [table]`).

use mssql_backup::Backup;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let b = Backup::open(&[Path::new(&args[1])]).unwrap_or_else(|e| panic!("{e}"));
    println!("boot: {:?}", b.boot());
    let raw = mssql_backup::internals::raw_catalog(&b).unwrap_or_else(|e| panic!("{e}"));
    let what = args.get(2).map(|s| s.as_str()).unwrap_or("summary");
    let user: Vec<_> = raw.objects.iter().filter(|o| o.kind == "U").collect();
    println!(
        "objects {} user tables {} colpars {} rscols {} idx {} iscols {} objvalues {} refs {} cls {} types {}",
        raw.objects.len(),
        user.len(),
        raw.colpars.len(),
        raw.rscols.len(),
        raw.idxstats.len(),
        raw.iscols.len(),
        raw.objvalues.len(),
        raw.singlerefs.len(),
        raw.clsobjs.len(),
        raw.scalartypes.len()
    );
    match what {
        "objects" => {
            for o in raw.objects.iter().filter(|o| o.id > 100 || o.kind == "U") {
                println!("{o:?}")
            }
        }
        "values" => {
            for v in &raw.objvalues {
                let text =
                    v.image.as_ref().map(|b| format!("{:02x?} {}", &b[..b.len().min(12)], String::from_utf8_lossy(b)));
                if v.object_id > 100 {
                    println!(
                        "class {} obj {} sub {} num {} value {:02x?} text {:?}",
                        v.class,
                        v.object_id,
                        v.sub_id,
                        v.number,
                        v.value,
                        text.map(|t| t.chars().take(80).collect::<String>())
                    )
                }
            }
        }
        "iscols" => {
            for c in raw.iscols.iter().filter(|c| c.object_id > 100) {
                println!("{c:?}")
            }
        }
        "refs" => {
            for c in raw.singlerefs.iter().filter(|c| c.dep_id > 100) {
                println!("{c:?}")
            }
        }
        "idx" => {
            for c in raw.idxstats.iter().filter(|c| c.object_id > 100) {
                println!("{c:?}")
            }
        }
        "ident" => {
            for c in raw.colpars.iter().filter(|c| c.identity_value.is_some() && c.object_id > 100) {
                println!("{} {} {:02x?}", c.object_id, c.name, c.identity_value)
            }
        }
        "cls" => {
            for c in &raw.clsobjs {
                println!("{c:?}")
            }
        }
        "types" => {
            for c in raw.scalartypes.iter().filter(|t| t.id > 200) {
                println!("{c:?}")
            }
        }
        _ => {}
    }
}
