//! `gen-backup`: writes a large, valid SQL Server full backup grown from a real one.
//! See the library documentation (`gen_backup`) for what it writes and where each on-disk
//! fact comes from.
//!
//! ```text
//! gen-backup --template <fixture.bak> --rows N [--shape narrow|wide | --table schema.name] --out /tmp/x.bak
//! gen-backup --template <fixture.bak> --size 1G --shape narrow [--compressed] --out /tmp/x.bak
//! gen-backup --template <fixture.bak> --list
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use gen_backup::{Options, Shape};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ShapeArg {
    /// The heap with the shortest all-fixed record.
    Narrow,
    /// The clustered table with the shortest all-fixed record.
    Clustered,
    /// The table with the most columns.
    Wide,
}

/// Writes a valid SQL Server full backup: a real template backup with one of its tables
/// grown by N generated rows.
#[derive(Debug, Parser)]
#[command(name = "gen-backup")]
struct Args {
    /// The real, uncompressed full backup to grow (one backup set, one data file).
    #[arg(long)]
    template: PathBuf,
    /// Rows to add.
    #[arg(long, conflicts_with = "size")]
    rows: Option<u64>,
    /// Bytes of new data (and LOB) pages to add instead of a row count (suffixes K, M, G).
    #[arg(long)]
    size: Option<String>,
    /// Which table to grow when --table is not given.
    #[arg(long, value_enum, default_value = "narrow")]
    shape: ShapeArg,
    /// The table to grow, `schema.name`.
    #[arg(long)]
    table: Option<String>,
    /// Output file.
    #[arg(long, required_unless_present = "list")]
    out: Option<PathBuf>,
    /// Write a compressed backup (the `MSSQLBAK` container, as `BACKUP … WITH COMPRESSION`).
    #[arg(long)]
    compressed: bool,
    /// Store every `(max)` column's value off-row, this many bytes each (even, at most
    /// 40,200: five LOB fragments of 8,040 bytes linked from the in-row root).
    #[arg(long)]
    lob_bytes: Option<usize>,
    /// List the template's tables and whether this tool can grow each, then exit.
    #[arg(long)]
    list: bool,
}

fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num.parse().with_context(|| format!("size {s:?}"))?;
    Ok((n * mult as f64) as u64)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for (name, cols, len) in gen_backup::candidates(&args.template)? {
            match len {
                Ok(len) => println!("{name}: {cols} columns, {len}-byte records"),
                Err(why) => println!("{name}: {cols} columns, cannot grow: {why}"),
            }
        }
        return Ok(());
    }
    let shape = match args.shape {
        ShapeArg::Narrow => Shape::Narrow,
        ShapeArg::Clustered => Shape::Clustered,
        ShapeArg::Wide => Shape::Wide,
    };
    let mut opts = Options {
        template: args.template,
        table: args.table,
        shape,
        rows: args.rows.unwrap_or(0),
        out: args.out.context("--out is required")?,
        compressed: args.compressed,
        lob_bytes: args.lob_bytes,
    };
    if let Some(size) = &args.size {
        opts.rows = gen_backup::rows_for_bytes(&opts, parse_size(size)?)?;
    }
    if opts.rows == 0 {
        bail!("give --rows N (N > 0) or --size");
    }
    let t = Instant::now();
    let s = gen_backup::generate(&opts)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{}: {} rows added ({} per page, {}-byte records), catalog rows {}, {} data pages, {} new extents, {} new IAM pages",
        s.table, s.rows, s.rows_per_page, s.record_len, s.catalog_rows, s.data_pages, s.extents, s.iam_pages
    );
    if s.lob_pages > 0 {
        println!("off-row values: {} LOB pages", s.lob_pages);
    }
    if opts.compressed {
        println!("compressed: {} chunk records", s.chunks);
    }
    println!(
        "wrote {} ({} bytes) in {secs:.2} s: {:.0} MB/s, {:.0} rows/s",
        opts.out.display(),
        s.out_bytes,
        s.out_bytes as f64 / secs / 1e6,
        s.rows as f64 / secs
    );
    Ok(())
}
