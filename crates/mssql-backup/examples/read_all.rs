//! Reads every row of every table of the backups given and prints rows, seconds, rows/s,
//! MB/s and the process's peak resident memory (`VmHWM`). Used by `bench/reader`.
//! `THREADS=n` reads each table in `n` parts on `n` threads (`Backup::rows_part`).

use std::path::Path;
use std::time::Instant;

use mssql_backup::{Backup, Part};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let repeat: u32 = std::env::var("REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let threads: usize = std::env::var("THREADS").ok().and_then(|r| r.parse().ok()).unwrap_or(1).max(1);
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        let size = std::fs::metadata(path).expect("file").len();
        let start = Instant::now();
        let mut rows = 0u64;
        for _ in 0..repeat {
            let b = Backup::open(&[path]).expect("open");
            for t in &b.database().expect("catalog").tables {
                rows += std::thread::scope(|s| {
                    let parts: Vec<_> = (0..threads)
                        .map(|index| {
                            let b = &b;
                            s.spawn(move || {
                                let mut r = b.rows_part(t, Part { index, of: threads }).expect("rows");
                                let mut n = 0u64;
                                while r.next_row().expect("row").is_some() {
                                    n += 1;
                                }
                                n
                            })
                        })
                        .collect();
                    parts.into_iter().map(|h| h.join().expect("reader thread")).sum::<u64>()
                });
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:<45} {:>9} rows  {:>8.3} s  {:>12.0} rows/s  {:>8.1} MB/s  peak RSS {} MiB",
            path.file_name().unwrap().to_string_lossy(),
            rows / u64::from(repeat),
            secs / f64::from(repeat),
            rows as f64 / secs,
            size as f64 * f64::from(repeat) / secs / 1e6,
            peak_rss_kib() / 1024
        );
    }
}
