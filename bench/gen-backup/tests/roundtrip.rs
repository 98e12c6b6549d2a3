//! Generates small backups from real fixtures into a temporary directory and reads them
//! back with `mssql-backup`: complete, the catalog's row count equal to the rows read, and
//! the generated values as the generator defines them.

use std::path::{Path, PathBuf};

use gen_backup::encode::{int_value, is_null, lob_value, text_value};
use gen_backup::{Options, Shape, generate};
use mssql_backup::{Backup, Value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/")).join(name)
}

/// Generates `rows` rows into `table` of `template`; returns the open backup's path.
fn grow(dir: &Path, template: &str, table: &str, rows: u64) -> PathBuf {
    grow_as(dir, template, table, rows, false)
}

fn grow_as(dir: &Path, template: &str, table: &str, rows: u64, compressed: bool) -> PathBuf {
    let out = dir.join(format!("{table}-{compressed}.bak"));
    let s = generate(&Options {
        template: fixture(template),
        table: Some(table.into()),
        shape: Shape::Narrow,
        rows,
        out: out.clone(),
        compressed,
        lob_bytes: None,
    })
    .expect("generate");
    assert_eq!(s.rows, rows);
    out
}

/// Opens `path`, checks it is complete and every table reads as many rows as its catalog
/// counts; returns the generated rows (the last `rows` read) of `table`.
fn read_back(path: &Path, table: &str, rows: u64) -> Vec<Vec<Value>> {
    let b = Backup::open(&[path]).expect("open the generated backup");
    let c = b.completeness();
    assert!(c.complete, "not complete: {:?}", c.problems);
    let db = b.database().expect("catalog");
    let mut generated = Vec::new();
    for t in &db.tables {
        let mut r = b.rows(t).expect("rows");
        let mut all = Vec::new();
        while let Some(v) = r.next_row().expect("row") {
            all.push(v.to_vec());
        }
        assert_eq!(Some(all.len() as u64), t.row_count_hint, "{}: rows read vs sysrowsets.rcrows", t.name);
        if format!("{}.{}", t.schema, t.name) == table {
            assert!(all.len() as u64 > rows);
            generated = all.split_off(all.len() - rows as usize);
        }
    }
    assert_eq!(generated.len() as u64, rows, "{table} not found");
    generated
}

#[test]
fn narrow_heap_with_date_and_money_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 3_000;
    let out = grow(dir.path(), "hotel-qlks-vietnamese-sql2019.bak", "dbo.PHIEU_DAT", rows);
    let got = read_back(&out, "dbo.PHIEU_DAT", rows);
    // PD_IDPHIEU int, ND_IDNGUOIDUNG int, PD_NGAYDAT date, PD_TONGTIEN money.
    for r in [0u64, 1, 223, 224, 1_234, 2_999] {
        let row = &got[r as usize];
        let expect = |ordinal: u64, v: Value| if is_null(r, ordinal) { Value::Null } else { v };
        assert_eq!(row[0], Value::Int(int_value(r, 0) as i32), "row {r}");
        // A foreign key to NGUOI_DUNG: one of its 7 keys (identity values under 100).
        assert!(matches!(row[1], Value::Int(1..100)), "row {r}: {:?}", row[1]);
        assert_eq!(row[2], expect(2, Value::Date { days: 730_119 + (r % 10_000) as i32 }), "row {r}");
        assert_eq!(row[3], expect(3, Value::Money(r as i64 * 10_000 + 2_500)), "row {r}");
    }
}

#[test]
fn heap_with_nvarchar_and_rowversion_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 2_500;
    let out = grow(dir.path(), "northwind-sql2008-forwarded.bak", "dbo.Shipper", rows);
    let got = read_back(&out, "dbo.Shipper", rows);
    // ID int, Name nvarchar(40) NOT NULL (24 characters generated), Phone nvarchar(24) NULL,
    // RowTimeStamp rowversion.
    for r in [0u64, 7, 1_000, 2_499] {
        let row = &got[r as usize];
        assert_eq!(row[0], Value::Int(int_value(r, 0) as i32), "row {r}");
        assert_eq!(row[1], Value::String(text_value(r, 24)), "row {r}");
        let phone = if is_null(r, 2) { Value::Null } else { Value::String(text_value(r, 24)) };
        assert_eq!(row[2], phone, "row {r}");
    }
}

#[test]
fn compressed_container_reads_back_as_the_plain_backup() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 20_000;
    let plain = grow_as(dir.path(), "hotel-qlks-vietnamese-sql2019.bak", "dbo.PHIEU_DAT", rows, false);
    let packed = grow_as(dir.path(), "hotel-qlks-vietnamese-sql2019.bak", "dbo.PHIEU_DAT", rows, true);
    let bytes = std::fs::read(&packed).unwrap();
    assert!(bytes.starts_with(b"MSSQLBAK"));
    assert!(bytes.len() * 4 < std::fs::metadata(&plain).unwrap().len() as usize, "{} bytes", bytes.len());
    assert!(Backup::open(&[packed.as_path()]).unwrap().description().header.compressed);
    assert_eq!(read_back(&packed, "dbo.PHIEU_DAT", rows), read_back(&plain, "dbo.PHIEU_DAT", rows));

    // The soft filemarks sit raw on multiples of their block size (4 KiB in this
    // template), and each lists the container offsets of the earlier ones, latest first.
    let marks: Vec<usize> = (0..bytes.len()).step_by(4096).filter(|&o| bytes[o..].starts_with(b"SFMB")).collect();
    assert_eq!(marks.len(), 3, "filemarks at {marks:x?}");
    for (i, &m) in marks.iter().enumerate() {
        let used = u32::from_le_bytes(bytes[m + 56..m + 60].try_into().unwrap()) as usize;
        assert_eq!(used, i);
        for (k, &earlier) in marks[..i].iter().rev().enumerate() {
            let at = m + 72 + 8 * k;
            assert_eq!(u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()), earlier as u64);
        }
    }
}

#[test]
fn clustered_wide_table_grows_its_leaf_level_in_key_order() {
    use mssql_backup::internals::alloc::read_iam_chain;
    use mssql_backup::internals::page::PageType;
    let dir = tempfile::tempdir().unwrap();
    let rows = 2_000;
    let table = "dbo.reservation";
    let out = grow(dir.path(), "hotel-zeynab-ef-sql2017.bak", table, rows);
    let got = read_back(&out, table, rows);
    // 33 columns: Id int (the clustered key), nvarchar(50) and nvarchar(max) (short, in
    // row), nchar(10), float, date, bit.
    for r in [0u64, 1, 999, 1_999] {
        let row = &got[r as usize];
        assert_eq!(row.len(), 33);
        assert_eq!(row[0], Value::Int(int_value(r, 0) as i32), "row {r}");
        assert_eq!(row[1], Value::String(text_value(r, 24)), "row {r}");
        assert_eq!(row[7], Value::Int(int_value(r, 7) as i32), "row {r}");
        assert_eq!(row[16], Value::Float(r as f64 + 0.25), "row {r}");
    }

    // The leaf level is one chain from its first page to its last, through every data
    // page of the allocation unit, with the keys ascending along it.
    let b = Backup::open(&[out.as_path()]).unwrap();
    let db = b.database().unwrap();
    let t = db.tables.iter().find(|t| format!("{}.{}", t.schema, t.name) == table).unwrap();
    let au = mssql_backup::internals::layout(&b, t).unwrap().rowsets[0].in_row.unwrap();
    let store = mssql_backup::internals::store(&b);
    let mut leaves = std::collections::HashMap::new();
    for id in read_iam_chain(store, au.first_iam).unwrap().pages() {
        if let Ok(Some(p)) = store.read_if_formatted(id)
            && p.header().page_type == PageType::Data
            && p.header().alloc_unit_id() == au.id
        {
            let link = |o: usize| mssql_backup::PageId::from_bytes(&p.bytes()[o..o + 6]).filter(|l| !l.is_null());
            leaves.insert(id, (link(8), link(16), u16::from_le_bytes([p.bytes()[22], p.bytes()[23]])));
        }
    }
    let first: Vec<_> = leaves.iter().filter(|(_, l)| l.0.is_none()).map(|(id, _)| *id).collect();
    assert_eq!(first.len(), 1, "first leaves: {first:?}");
    let (mut at, mut prev, mut seen, mut slots) = (Some(first[0]), None, 0, 0u64);
    while let Some(id) = at {
        let (p, n, s) = leaves[&id];
        assert_eq!(p, prev, "page {id}: m_prevPage");
        (prev, at, seen, slots) = (Some(id), n, seen + 1, slots + u64::from(s));
    }
    assert_eq!(seen, leaves.len(), "pages on the leaf chain vs data pages in the IAM");
    assert_eq!(Some(slots), t.row_count_hint);
}

#[test]
fn off_row_max_values_read_back_from_lob_pages() {
    let dir = tempfile::tempdir().unwrap();
    let table = "dbo.UserLogin";
    // UserId varchar(max) NULL, TimeIn datetime, TimeOut datetime, Status varchar(50).
    for (rows, len) in [(1_500u64, 20_000usize), (300, 2 * 8_040), (700, 100)] {
        let out = dir.path().join(format!("lob-{len}.bak"));
        let s = generate(&Options {
            template: fixture("hotel-ankit-sql2005.bak"),
            table: Some(table.into()),
            shape: Shape::Narrow,
            rows,
            out: out.clone(),
            compressed: false,
            lob_bytes: Some(len),
        })
        .expect("generate");
        assert!(s.lob_pages > 0);
        let got = read_back(&out, table, rows);
        // An 8-bit (max) type: varchar(max)'s bytes are varbinary(max)'s.
        let ty = mssql_backup::SqlType::VarBinary { len: None };
        for r in [0, 1, rows / 2, rows - 1] {
            let mut want = vec![0u8; len];
            lob_value(&ty, r, 0, &mut want);
            assert_eq!(got[r as usize][0], Value::String(String::from_utf8(want).unwrap()), "{len} bytes, row {r}");
            assert_eq!(got[r as usize][3], Value::String(text_value(r, 24)), "row {r}");
        }
    }
}
