//! Every SQL Server type through a whole migration, checked value by value against
//! hand-written PostgreSQL texts; conversions counted; the encoders checked against
//! PostgreSQL's own rendering over many generated values.

use std::borrow::Cow;

use crate::common::*;
use bak2pg::NoProgress;
use bak2pg::report::{Status, TableStatus};
use bak2pg::typemap::{PgType, PgValue};
use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use mssql_backup::{SqlType, Value};

fn every_type_columns() -> Vec<mssql_backup::schema::Column> {
    use SqlType::*;
    vec![
        identity(col("id", Int), 1, 1),
        col("b", Bit),
        col("ti", TinyInt),
        col("si", SmallInt),
        col("i", Int),
        col("bi", BigInt),
        col("r", Real),
        col("f", Float),
        col("d", Decimal { precision: 38, scale: 10, numeric: false }),
        col("n", Decimal { precision: 5, scale: 0, numeric: true }),
        col("m", Money),
        col("sm", SmallMoney),
        col("c", Char { len: 5, collation: coll() }),
        col("nc", NChar { len: 3, collation: coll() }),
        col("vc", VarChar { len: Some(20), collation: coll() }),
        col("nvc", NVarChar { len: None, collation: coll() }),
        col("t", Text { collation: coll() }),
        col("nt", NText { collation: coll() }),
        col("bin", Binary { len: 4 }),
        col("vb", VarBinary { len: None }),
        col("img", Image),
        col("rv", RowVersion),
        col("u", UniqueIdentifier),
        col("dt", Date),
        col("tm", Time { scale: 7 }),
        col("sdt", SmallDateTime),
        col("dtt", DateTime),
        col("dt2", DateTime2 { scale: 7 }),
        col("dt23", DateTime2 { scale: 3 }),
        col("dto", DateTimeOffset { scale: 7 }),
        col("x", Xml),
        col("v", SqlVariant),
        col("h", HierarchyId),
        col("g", Geography),
    ]
}

fn secs(h: u64, m: u64, s: u64) -> u64 {
    (h * 3600 + m * 60 + s) * 10_000_000
}

/// (values, expected `::text` per column; `None` = NULL).
fn every_type_rows() -> Vec<(Vec<Value>, Vec<Option<String>>)> {
    let s = |x: &str| Some(x.to_string());
    let guid = [0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, 0xff];
    let long = "y".repeat(100_000);
    let vb: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let vb_hex: String = format!("\\x{}", vb.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let row1 = vec![
        (Value::Int(1), s("1")),
        (Value::Bit(true), s("true")),
        (Value::TinyInt(255), s("255")),
        (Value::SmallInt(-32768), s("-32768")),
        (Value::Int(2147483647), s("2147483647")),
        (Value::BigInt(i64::MIN), s("-9223372036854775808")),
        (Value::Real(1.5), s("1.5")),
        (Value::Float(0.1), s("0.1")),
        (
            Value::Decimal { mantissa: 12345678901234567890123456789012345678, scale: 10 },
            s("1234567890123456789012345678.9012345678"),
        ),
        (Value::Decimal { mantissa: -99999, scale: 0 }, s("-99999")),
        (Value::Money(i64::MIN), s("-922337203685477.5808")),
        (Value::Money(2147483647), s("214748.3647")),
        (Value::String("ab   ".into()), s("ab")),
        (Value::String("é  ".into()), s("é")),
        (Value::String("it's \"q\" \\ back".into()), s("it's \"q\" \\ back")),
        (Value::String("日本語 🎉\ttab\nnl".into()), s("日本語 🎉\ttab\nnl")),
        (Value::String("a\0b".into()), s("ab")),
        (Value::String(String::new()), s("")),
        (Value::Binary(vec![0xde, 0xad, 0xbe, 0xef]), s("\\xdeadbeef")),
        (Value::Binary(vec![]), s("\\x")),
        (Value::Binary(vec![0, 1, 255]), s("\\x0001ff")),
        (Value::Binary(vec![0, 0, 0, 0, 0, 0, 0x07, 0xd1]), s("\\x00000000000007d1")),
        (Value::Guid(guid), s("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
        (Value::Date { days: 738_944 }, s("2024-02-29")),
        (Value::Time { ticks: secs(13, 45, 30) + 1_234_567, scale: 7 }, s("13:45:30.123457")),
        (Value::SmallDateTime { days: 65_535, minutes: 1439 }, s("2079-06-06 23:59:00")),
        (Value::DateTime { days: -53_690, ticks: 2 }, s("1753-01-01 00:00:00.007")),
        (Value::DateTime2 { days: 737_425, ticks: secs(3, 4, 5) + 5, scale: 7 }, s("2020-01-02 03:04:05.000001")),
        (Value::DateTime2 { days: 0, ticks: 123, scale: 3 }, s("0001-01-01 00:00:00.123")),
        (
            Value::DateTimeOffset { days: 737_590, ticks: secs(12, 0, 0) + 1_234_564, scale: 7, offset_minutes: 120 },
            s("2020-06-15 12:00:00.123456+00"),
        ),
        (Value::Xml("<a b=\"1\">t&amp;</a><c/>".into()), s("<a b=\"1\">t&amp;</a><c/>")),
        (Value::Variant(Box::new((SqlType::Int, Value::Int(42)))), s("42")),
        (Value::Binary(vec![0x58]), s("\\x58")),
        (Value::Binary(vec![1, 2, 3]), s("\\x010203")),
    ];
    let row2 = vec![
        (Value::Int(2), s("2")),
        (Value::Bit(false), s("false")),
        (Value::TinyInt(0), s("0")),
        (Value::SmallInt(32767), s("32767")),
        (Value::Int(i32::MIN), s("-2147483648")),
        (Value::BigInt(i64::MAX), s("9223372036854775807")),
        (Value::Real(f32::MAX), s("3.4028235e+38")),
        (Value::Float(5e-324), s("5e-324")),
        (Value::Decimal { mantissa: -1, scale: 10 }, s("-0.0000000001")),
        (Value::Decimal { mantissa: 0, scale: 0 }, s("0")),
        (Value::Money(i64::MAX), s("922337203685477.5807")),
        (Value::Money(-2147483648), s("-214748.3648")),
        (Value::String("     ".into()), s("")),
        (Value::String("abc".into()), s("abc")),
        (Value::String("x".into()), s("x")),
        (Value::String(long.clone()), Some(long)),
        (Value::String(String::new()), s("")),
        (Value::String("ntext".into()), s("ntext")),
        (Value::Binary(vec![0; 4]), s("\\x00000000")),
        (Value::Binary(vb), Some(vb_hex)),
        (Value::Null, None),
        (Value::Binary(vec![0xff; 8]), s("\\xffffffffffffffff")),
        (Value::Guid([0; 16]), s("00000000-0000-0000-0000-000000000000")),
        (Value::Date { days: 0 }, s("0001-01-01")),
        (Value::Time { ticks: secs(23, 59, 59) + 9_999_995, scale: 7 }, s("24:00:00")),
        (Value::SmallDateTime { days: 0, minutes: 0 }, s("1900-01-01 00:00:00")),
        (Value::DateTime { days: 2_958_463, ticks: 25_919_999 }, s("9999-12-31 23:59:59.997")),
        (
            Value::DateTime2 { days: 3_652_058, ticks: secs(23, 59, 59) + 9_999_999, scale: 7 },
            s("10000-01-01 00:00:00"),
        ),
        (Value::Null, None),
        (Value::DateTimeOffset { days: 0, ticks: 0, scale: 7, offset_minutes: -840 }, s("0001-01-01 00:00:00+00")),
        (Value::Xml("<bad>".into()), None),
        (
            Value::Variant(Box::new((
                SqlType::Decimal { precision: 10, scale: 2, numeric: false },
                Value::Decimal { mantissa: 150, scale: 2 },
            ))),
            s("1.50"),
        ),
        (Value::Null, None),
        (Value::Null, None),
    ];
    let mut row3: Vec<(Value, Option<String>)> = vec![(Value::Int(3), s("3"))];
    row3.extend((1..every_type_columns().len()).map(|_| (Value::Null, None)));
    [row1, row2, row3].into_iter().map(|r| r.into_iter().unzip()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_with_exact_values_and_matching_checksums() {
    let name = "t_types";
    reset(name).await;
    let cols = every_type_columns();
    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let mut t = table("dbo", "every_type", cols);
    t.primary_key = Some(key("PK_every_type", &["id"]));
    let rows = every_type_rows();
    let source = MemSource::new(database(name, vec![t]), vec![rows.iter().map(|(v, _)| v.clone()).collect()]);
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert_eq!(report.tables[0].status, TableStatus::Match);
    assert_eq!(report.tables[0].rows, 3);
    assert_eq!(report.tables[0].source_checksum, report.tables[0].target_checksum);

    let c = connect(name).await;
    c.batch_execute("SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET DateStyle = 'ISO, YMD'").await.unwrap();
    let select: Vec<String> = names.iter().map(|n| format!("\"{n}\"::text")).collect();
    let got = c.query(&format!("SELECT {} FROM public.every_type ORDER BY id", select.join(", ")), &[]).await.unwrap();
    assert_eq!(got.len(), 3);
    for (r, (_, expected)) in got.iter().zip(&rows) {
        for (i, exp) in expected.iter().enumerate() {
            let v: Option<String> = r.get(i);
            assert_eq!(&v, exp, "column {} of row {}", names[i], expected[0].as_deref().unwrap());
        }
    }
    // The column types are the mapping's.
    let types = c
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'public.every_type'::regclass AND attnum > 0 ORDER BY attnum",
            &[],
        )
        .await
        .unwrap();
    let types: Vec<String> =
        types.iter().map(|r| format!("{} {}", r.get::<_, String>(0), r.get::<_, String>(1))).collect();
    for expected in [
        "ti smallint",
        "m numeric(19,4)",
        "sm numeric(10,4)",
        "nc character(3)",
        "nvc text",
        "u uuid",
        "tm time(6) without time zone",
        "dtt timestamp(3) without time zone",
        "sdt timestamp(0) without time zone",
        "dto timestamp(6) with time zone",
        "x xml",
        "v text",
        "g bytea",
    ] {
        assert!(types.iter().any(|t| t == expected), "{expected} not in {types:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_conversions_are_counted_and_originals_kept() {
    let name = "t_conversions";
    reset(name).await;
    let cols = every_type_columns();
    let mut t = table("dbo", "every_type", cols);
    t.primary_key = Some(key("PK_every_type", &["id"]));
    let rows = every_type_rows();
    let mut source = MemSource::new(database(name, vec![t]), vec![rows.into_iter().map(|(v, _)| v).collect()]);
    std::sync::Arc::get_mut(&mut source).unwrap().replaced = Some((0, 15, 3));
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let count = |col: &str| report.conversions.iter().find(|c| c.column == col).map(|c| c.counts).unwrap_or_default();
    assert_eq!(count("t").nul_removed, 1);
    assert_eq!(count("tm").fraction_rounded, 2);
    assert_eq!(count("dt2").fraction_rounded, 2);
    assert_eq!(count("dto").fraction_rounded, 1);
    assert_eq!(count("dto").offset_dropped, 2);
    assert_eq!(count("dtt").datetime_ticks_rounded, 2);
    assert_eq!(count("x").xml_rejected, 1);
    assert_eq!(count("v").variant_as_text, 2);
    assert_eq!(count("nvc").replaced_utf16, 3);
    assert_eq!(report.target.rejected_values, 2);
    assert!(report.summary().contains("1 XML rejected"), "{}", report.summary());
    assert!(report.special_columns.iter().any(|c| c.column == "g"));

    let c = connect(name).await;
    let kept = c
        .query(
            "SELECT column_name, row_key, reason, original_text, original_bytes FROM bak2pg.rejected_values ORDER BY reason",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].get::<_, String>(0), "t");
    assert_eq!(kept[0].get::<_, Option<String>>(1).as_deref(), Some(r#"["1"]"#));
    assert_eq!(kept[0].get::<_, String>(2), "nul_removed");
    assert_eq!(kept[0].get::<_, Option<Vec<u8>>>(4).as_deref(), Some(&b"a\0b"[..]));
    assert_eq!(kept[1].get::<_, String>(2), "xml_rejected");
    assert_eq!(kept[1].get::<_, Option<String>>(3).as_deref(), Some("<bad>"));
    assert_eq!(kept[1].get::<_, Option<String>>(1).as_deref(), Some(r#"["2"]"#));
}

/// Our binary encoder of each PostgreSQL type against PostgreSQL itself: values are
/// COPYed in binary, read back as `::text`, and compared with our canonical text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoders_agree_with_postgres_on_generated_values() {
    let name = "t_encoders";
    reset(name).await;
    let admin = connect("postgres").await;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let c = connect(name).await;
    c.batch_execute(
        "SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET DateStyle = 'ISO, YMD'; SET bytea_output = 'hex'",
    )
    .await
    .unwrap();

    // A small deterministic generator (no external randomness).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let n = 2000;
    let mut cases: Vec<(PgType, Vec<PgValue<'static>>)> = Vec::new();
    for scale in [0u8, 1, 3, 4, 5, 8, 19, 38] {
        let vals = (0..n)
            .map(|_| {
                let digits = (next() % 38) as u32 + 1;
                let m = ((next() as i128).wrapping_mul(next() as i128)).rem_euclid(10i128.pow(digits));
                PgValue::Numeric { mantissa: if next() % 2 == 0 { -m } else { m }, scale }
            })
            .collect();
        cases.push((PgType::Numeric { precision: 38, scale }, vals));
    }
    let min_us = -730_119i64 * 86_400_000_000;
    let max_us = (3_652_059i64 - 730_119) * 86_400_000_000;
    let ts = |x: u64| min_us + (x % (max_us - min_us) as u64) as i64;
    cases.push((PgType::Timestamp { precision: 6 }, (0..n).map(|_| PgValue::Timestamp(ts(next()))).collect()));
    cases.push((PgType::TimestampTz { precision: 6 }, (0..n).map(|_| PgValue::TimestampTz(ts(next()))).collect()));
    cases.push((PgType::Date, (0..n).map(|_| PgValue::Date(-730_119 + (next() % 3_652_059) as i32)).collect()));
    cases.push((
        PgType::Time { precision: 6 },
        (0..n).map(|_| PgValue::Time((next() % 86_400_000_001) as i64)).collect(),
    ));
    cases.push((
        PgType::Double,
        (0..n)
            .map(|_| PgValue::Float8(f64::from_bits(next())))
            .filter(|v| !matches!(v, PgValue::Float8(x) if x.is_nan()))
            .collect(),
    ));
    cases.push((
        PgType::Real,
        (0..n)
            .map(|_| PgValue::Float4(f32::from_bits(next() as u32)))
            .filter(|v| !matches!(v, PgValue::Float4(x) if x.is_nan()))
            .collect(),
    ));
    cases.push((PgType::BigInt, (0..n).map(|_| PgValue::Int8(next() as i64)).collect()));
    cases.push((PgType::Integer, (0..n).map(|_| PgValue::Int4(next() as i32)).collect()));
    cases.push((PgType::SmallInt, (0..n).map(|_| PgValue::Int2(next() as i16)).collect()));
    cases.push((PgType::Boolean, vec![PgValue::Bool(true), PgValue::Bool(false)]));
    cases.push((
        PgType::Uuid,
        (0..n)
            .map(|_| {
                let mut u = [0u8; 16];
                u[..8].copy_from_slice(&next().to_le_bytes());
                u[8..].copy_from_slice(&next().to_le_bytes());
                PgValue::Uuid(u)
            })
            .collect(),
    ));
    cases.push((
        PgType::Bytea,
        (0..200).map(|i| PgValue::Bytea(Cow::Owned((0..i).map(|_| next() as u8).collect()))).collect(),
    ));
    cases.push((
        PgType::Text,
        (0..200)
            .map(|i| {
                PgValue::Text(Cow::Owned(
                    (0..i).filter_map(|_| char::from_u32((next() % 0x11_0000) as u32)).filter(|c| *c != '\0').collect(),
                ))
            })
            .collect(),
    ));
    cases.push((
        PgType::Char { len: 10 },
        vec![PgValue::Text(Cow::Borrowed("a  ")), PgValue::Text(Cow::Borrowed(" b"))],
    ));
    cases.push((PgType::Xml, vec![PgValue::Xml("<a>1</a>text<b/>")]));

    for (ty, vals) in cases {
        c.batch_execute(&format!("DROP TABLE IF EXISTS v; CREATE TABLE v (i integer, x {})", ty.sql())).await.unwrap();
        let mut buf = BytesMut::new();
        bak2pg::copy::write_header(&mut buf);
        for (i, v) in vals.iter().enumerate() {
            bak2pg::copy::begin_row(&mut buf, 2);
            bak2pg::copy::write_field(&mut buf, &PgValue::Int4(i as i32));
            bak2pg::copy::write_field(&mut buf, v);
        }
        bak2pg::copy::write_trailer(&mut buf);
        let sink = c.copy_in::<_, Bytes>("COPY v FROM STDIN (FORMAT binary)").await.unwrap();
        let mut sink = std::pin::pin!(sink);
        sink.send(buf.freeze()).await.unwrap();
        sink.as_mut().finish().await.unwrap_or_else(|e| panic!("{ty}: {e:?}"));
        // The value as validation reads it back, and as the server hashes it.
        let sql = format!(
            "SELECT i, {}, hashtextextended(({}) COLLATE \"C\", 0) FROM v ORDER BY i",
            bak2pg::validate::read_back_expr("x", &ty),
            bak2pg::validate::column_text_expr("x", &ty)
        );
        let rows = c.query(&sql, &[]).await.unwrap();
        assert_eq!(rows.len(), vals.len());
        for (r, v) in rows.iter().zip(&vals) {
            let mut hasher = bak2pg::checksum::RowHasher::new();
            hasher.push_value(v, &ty);
            assert_eq!(r.get::<_, i64>(2), hasher.finish(), "{ty}: value {v:?}, hashed by the server");
            let text: String = r.get(1);
            let mut from_pg = Vec::new();
            bak2pg::checksum::canonical_from_pg_text(&ty, text.as_bytes(), &mut from_pg).unwrap();
            let mut ours = Vec::new();
            bak2pg::checksum::canonical(v, &ty, &mut ours);
            assert_eq!(
                String::from_utf8_lossy(&from_pg),
                String::from_utf8_lossy(&ours),
                "{ty}: value {v:?}, PostgreSQL printed {text:?}"
            );
        }
    }
    drop(c);
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
}

/// Our XML check must never accept what PostgreSQL's parser rejects (values it refuses go
/// to `bak2pg.rejected_values` instead of failing the COPY); being stricter only moves a
/// value aside, losing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_check_is_never_laxer_than_postgres() {
    let c = connect("postgres").await;
    let samples = [
        "<a>1</a>",
        "text only",
        "",
        "<a>]]></a>",
        "<a xmlns:p=\"\"/>",
        "<a xmlns:xml=\"http://x\"/>",
        "<a>&#1;</a>",
        "<a>&#x1F600;</a>",
        "<?pi?><a/>",
        "<a/><!-- a -- b -->",
        "<a/><!-- fine -->",
        "<p:a/>",
        "<p:a xmlns:p=\"urn:x\"/>",
        "<a b=\"1\" b=\"2\"/>",
        "<a b='<'/>",
        "<a>&amp;&lt;&gt;&quot;&apos;</a>",
        "<a>&nbsp;</a>",
        "<![CDATA[x]]>",
        "<a><![CDATA[ ]]> ]]></a>",
        "<?xml version=\"1.0\"?><a/>",
        "<?xml-stylesheet href=\"a.xsl\"?><a/>",
        "<!DOCTYPE a><a/>",
        "<a>\u{FFFE}</a>",
        "<a>\u{7F}</a>",
        "<1a/>",
        "<a:b:c/>",
        "</a>",
        "<a></b>",
        "<a attr=unquoted/>",
        "  <a/>  <b/>  ",
    ];
    for s in samples {
        let pg: bool = c.query_one("SELECT xml_is_well_formed_content($1)", &[&s]).await.unwrap().get(0);
        let ours = bak2pg::typemap::xml_content_ok(s);
        assert!(!ours || pg, "{s:?}: we accept it, PostgreSQL rejects it");
    }
}

/// Many values kept aside: the spool spills to a temporary file (test buffers are 8 KiB)
/// and every original arrives in `bak2pg.rejected_values`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_kept_aside_values_spill_and_all_arrive() {
    let name = "t_spill";
    reset(name).await;
    let mut t = table(
        "dbo",
        "legacy",
        vec![not_null(col("id", SqlType::Int)), col("code", SqlType::Char { len: 20, collation: coll() })],
    );
    t.primary_key = Some(key("PK_legacy", &["id"]));
    let rows = (0..3000).map(|i| vec![Value::Int(i), Value::String(format!("c{i}\0\0\0"))]).collect();
    let source = MemSource::new(database(name, vec![t]), vec![rows]);
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.target.rejected_values, 3000);
    assert_eq!(report.conversions[0].counts.nul_removed, 3000);
    let c = connect(name).await;
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT row_key), (array_agg(original_bytes ORDER BY row_key))[1], bool_and(original_text IS NULL) FROM bak2pg.rejected_values",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3000);
    assert_eq!(row.get::<_, i64>(1), 3000);
    assert_eq!(row.get::<_, Vec<u8>>(2), b"c0\0\0\0".to_vec(), "first by row_key [\"0\"]");
    assert!(row.get::<_, bool>(3));
    let code: String = c.query_one("SELECT code::text FROM legacy WHERE id = 42", &[]).await.unwrap().get(0);
    assert_eq!(code, "c42");
}
