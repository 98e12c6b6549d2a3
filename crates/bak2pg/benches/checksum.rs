//! The source-side checksum of typical rows: canonical texts of integers, numerics,
//! floats, dates, timestamps, uuids and text, framed and hashed per row (what the load
//! step does for every row it sends). `cargo bench -p bak2pg --bench checksum`.

use std::borrow::Cow;
use std::hint::black_box;

use bak2pg::checksum::{RowHasher, TableChecksum};
use bak2pg::typemap::{PgType, PgValue};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: usize = 10_000;

fn rows() -> (Vec<PgType>, Vec<Vec<PgValue<'static>>>) {
    let types = vec![
        PgType::Integer,
        PgType::BigInt,
        PgType::Numeric { precision: 19, scale: 4 },
        PgType::Double,
        PgType::Real,
        PgType::Date,
        PgType::Timestamp { precision: 3 },
        PgType::TimestampTz { precision: 6 },
        PgType::Uuid,
        PgType::Text,
    ];
    let rows = (0..ROWS as i64)
        .map(|i| {
            vec![
                PgValue::Int4(i as i32),
                PgValue::Int8(i * 7_919_999_999),
                PgValue::Numeric { mantissa: i as i128 * 12_345 - 50_000_000, scale: 4 },
                PgValue::Float8(i as f64 / 7.0),
                PgValue::Float4(i as f32 * 0.3),
                PgValue::Date((i % 20_000) as i32),
                PgValue::Timestamp(i * 86_400_123_000),
                PgValue::TimestampTz(i * 3_600_000_001),
                PgValue::Uuid([(i % 251) as u8; 16]),
                PgValue::Text(Cow::Owned(format!("customer {i} of the bench"))),
            ]
        })
        .collect();
    (types, rows)
}

fn bench(c: &mut Criterion) {
    let (types, rows) = rows();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("10 columns, 10 000 rows", |b| {
        b.iter(|| {
            let mut h = RowHasher::new();
            let mut sum = TableChecksum::default();
            for row in &rows {
                for (v, ty) in row.iter().zip(&types) {
                    if matches!(v, PgValue::Null) {
                        h.push_null();
                    } else {
                        h.push_value(v, ty);
                    }
                }
                sum.add_row(h.finish());
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
