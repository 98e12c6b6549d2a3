//! Reader throughput on the real fixtures: decoded rows per second and megabytes of backup
//! per second, one core (`cargo bench -p mssql-backup`). Peak memory is measured by
//! `bench/reader`, which runs the `read_all` example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mssql_backup::Backup;
use mssql_backup::internals::compressed::CompressedSource;
use mssql_backup::internals::xpress;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/")).join(name)
}

/// Opens the backup and decodes every value of every row; returns the row count.
fn read_all(path: &Path) -> u64 {
    let b = Backup::open(&[path]).expect("open");
    let mut rows = 0;
    for t in &b.database().expect("catalog").tables {
        let mut r = b.rows(t).expect("rows");
        while r.next_row().expect("row").is_some() {
            rows += 1;
        }
    }
    rows
}

/// Decodes every row of one table of an opened backup; returns the row count.
fn read_table(b: &Backup, schema: &str, name: &str) -> u64 {
    let t = b.database().expect("catalog").table(schema, name).expect("table");
    let mut r = b.rows(t).expect("rows");
    let mut n = 0;
    while r.next_row().expect("row").is_some() {
        n += 1;
    }
    n
}

fn whole_backups(c: &mut Criterion) {
    let mut g = c.benchmark_group("whole backup (open, catalog, every row)");
    g.measurement_time(Duration::from_secs(5)).sample_size(10);
    for name in [
        "northwind-sql2014-multifile.bak",
        "bikestores-sql2017.bak",
        "northwind-sql2005-tornpage.bak",
        "tsqlv4-sql2016-compressed.bak",
        "northwind-sql2016-compressed.bak",
    ] {
        let path = fixture(name);
        let bytes = std::fs::metadata(&path).expect("fixture").len();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("{name} (MB/s of backup file)"), |b| b.iter(|| read_all(&path)));
    }
    g.finish();
}

fn narrow_tables(c: &mut Criterion) {
    let mut g = c.benchmark_group("rows of one table (backup already open)");
    g.measurement_time(Duration::from_secs(5));
    for (file, schema, table) in [
        ("tsqlv4-sql2016-compressed.bak", "dbo", "Nums"),
        ("bikestores-sql2017.bak", "sales", "order_items"),
        ("northwind-sql2005-tornpage.bak", "dbo", "Order Details"),
    ] {
        let b = Backup::open(&[&fixture(file)]).expect("open");
        let rows = read_table(&b, schema, table);
        g.throughput(Throughput::Elements(rows));
        g.bench_function(format!("{schema}.{table} in {file} (rows/s)"), |bch| {
            bch.iter(|| read_table(&b, schema, table))
        });
    }
    g.finish();
}

/// MS-XCA decoding alone: every chunk of the compressed fixtures, MB/s of decoded output.
fn xpress_chunks(c: &mut Criterion) {
    let mut payloads = Vec::new();
    for name in ["northwind-sql2016-compressed.bak", "tsqlv4-sql2016-compressed.bak"] {
        let path = fixture(name);
        let src = CompressedSource::open(&path).expect("open");
        let file = std::fs::read(&path).expect("fixture");
        for ch in src.chunks() {
            let payload = file[ch.payload_offset as usize..][..ch.payload_len as usize].to_vec();
            payloads.push((payload, ch.len as usize));
        }
    }
    let out_bytes: usize = payloads.iter().map(|(_, n)| n).sum();
    let mut g = c.benchmark_group("MS-XCA chunks of the compressed fixtures");
    g.measurement_time(Duration::from_secs(5)).sample_size(20);
    g.throughput(Throughput::Bytes(out_bytes as u64));
    let mut d = xpress::Decoder::new();
    let mut out = Vec::with_capacity(65_536);
    g.bench_function("decode (MB/s of decoded stream)", |b| {
        b.iter(|| {
            for (p, n) in &payloads {
                out.clear();
                d.decompress_into(p, *n, &mut out).expect("decode");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, whole_backups, narrow_tables, xpress_chunks);
criterion_main!(benches);
