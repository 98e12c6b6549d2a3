//! `geography`/`geometry` to PostGIS against a real PostgreSQL with PostGIS: the real
//! point of `geography-testdb-sql2016.bak` (as PostGIS and, with `--postgis off`, as raw
//! bytes), hand-built values of every shape kind compared with PostGIS's own rendering,
//! the checksum catching a changed coordinate or SRID, and the fallback to `bytea` when
//! the role may not create the extension. Skipped, saying so, only when the test server
//! has no PostGIS (scripts/pg.sh installs Debian's package for the server's version).

use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use bak2pg::NoProgress;
use bak2pg::ddl::{self, PlanOptions};
use bak2pg::report::{Status, TableStatus};
use bak2pg::source::Source;
use bak2pg::source::native::NativeSource;
use bak2pg::spatial::PostgisMode;
use bak2pg::typemap::MappingNote;
use mssql_backup::{OpenOptions, SqlType, Value};

const GEOGRAPHY_BAK: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/geography-testdb-sql2016.bak");

/// Fails the test, saying why, when the test server does not offer PostGIS.
async fn require_postgis() {
    let c = connect("postgres").await;
    let ok = c.query_opt("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'", &[]).await.unwrap().is_some();
    // Failing, not skipping: a skipped test would be reported as passed.
    assert!(
        ok,
        "the test PostgreSQL has no postgis extension: install Debian's postgresql-<major>-postgis-3 (scripts/pg.sh does, as root)"
    );
}

fn fixture() -> Arc<NativeSource> {
    assert!(Path::new(GEOGRAPHY_BAK).is_file(), "fixture missing: {GEOGRAPHY_BAK}");
    Arc::new(NativeSource::open(&[Path::new(GEOGRAPHY_BAK)], OpenOptions::default()).unwrap())
}

/// The raw SQL Server bytes of `dbo.location.Location`'s one row.
fn raw_location(source: &NativeSource) -> Vec<u8> {
    let db = source.database();
    let t = db.tables.iter().find(|t| t.name == "location").expect("dbo.location");
    let i = t.columns.iter().position(|c| c.name == "Location").expect("Location column");
    assert_eq!(t.columns[i].ty, SqlType::Geography);
    let mut rows = source.rows(t).unwrap();
    let row = rows.next_row().unwrap().expect("one row");
    let Value::Binary(b) = &row[i] else { panic!("geography as {:?}", row[i]) };
    let raw = b.clone();
    assert!(rows.next_row().unwrap().is_none(), "one row only");
    raw
}

/// (SRID, latitude, longitude) of a single-point geography, read straight from the
/// layout of MS-SSCLRT 2.1 (SRID, version 1, properties with the single-point bit, then
/// latitude and longitude as little-endian doubles), without the crate's decoder.
fn single_point(raw: &[u8]) -> (i32, f64, f64) {
    assert_eq!(raw.len(), 22, "a single point without Z or M is 22 bytes");
    assert_eq!(raw[4], 1, "version 1");
    assert_eq!(raw[5] & 0x08, 0x08, "single-point property");
    assert_eq!(raw[5] & 0x03, 0, "no Z or M");
    let f = |a: usize| f64::from_le_bytes(raw[a..a + 8].try_into().unwrap());
    (i32::from_le_bytes(raw[..4].try_into().unwrap()), f(6), f(14))
}

fn postgis_options(name: &str) -> bak2pg::MigrateOptions {
    let mut o = options(name);
    o.plan.postgis = PostgisMode::Auto;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_point_lands_as_postgis_geography_with_its_srid_and_coordinates() {
    require_postgis().await;
    let name = "t_spatial_fixture";
    reset(name).await;
    let source = fixture();
    let (srid, lat, lon) = single_point(&raw_location(&source));
    assert_eq!(srid, 4326);
    let report =
        bak2pg::migrate(source.clone(), &postgis_options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert!(report.tables.iter().all(|t| t.status == TableStatus::Match), "{:?}", report.tables);
    let sc: Vec<_> = report.special_columns.iter().filter(|c| c.column == "Location").collect();
    assert_eq!(sc.len(), 1);
    assert_eq!(sc[0].note, MappingNote::Postgis);
    assert!(sc[0].detail.as_deref().unwrap().starts_with("PostGIS geography (extension postgis "), "{:?}", sc[0]);

    let c = connect(name).await;
    let r = c
        .query_one(
            "SELECT pg_typeof(\"Location\")::text, ST_SRID(\"Location\"), ST_X(\"Location\"::geometry), \
             ST_Y(\"Location\"::geometry), ST_AsText(\"Location\"), ST_NPoints(\"Location\"::geometry) FROM public.location",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "geography");
    assert_eq!(r.get::<_, i32>(1), srid);
    // Exactly the stored doubles, longitude as x.
    assert_eq!(r.get::<_, f64>(2).to_bits(), lon.to_bits());
    assert_eq!(r.get::<_, f64>(3).to_bits(), lat.to_bits());
    assert_eq!(r.get::<_, String>(4), "POINT(-72.42683 43.46149)");
    assert_eq!(r.get::<_, i32>(5), 1);
    // The column is plain geography (no typmod): SQL Server declares neither subtype nor SRID.
    let ty: String = c
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'public.location'::regclass AND attname = 'Location'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ty, "geography");
    // SQL Server's spatial index became PostGIS's: GiST on the column.
    let ix: String =
        c.query_one("SELECT indexdef FROM pg_indexes WHERE indexname = 'SPATIAL_location'", &[]).await.unwrap().get(0);
    assert!(ix.ends_with("USING gist (\"Location\")"), "{ix}");
    assert!(!report.untranslated.iter().any(|u| u.object == "SPATIAL_location"), "{:?}", report.untranslated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_with_postgis_off_keeps_the_raw_bytes() {
    let name = "t_spatial_off";
    reset(name).await;
    let source = fixture();
    let raw = raw_location(&source);
    let mut opts = options(name);
    opts.plan.postgis = PostgisMode::Off;
    let report = bak2pg::migrate(source, &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    let sc = report.special_columns.iter().find(|c| c.column == "Location").unwrap();
    assert_eq!(sc.note, MappingNote::RawClrBytes);
    assert_eq!(sc.detail.as_deref(), Some("raw bytes in bytea: --postgis off"));
    let c = connect(name).await;
    let r = c.query_one("SELECT pg_typeof(\"Location\")::text, \"Location\" FROM public.location", &[]).await.unwrap();
    assert_eq!(r.get::<_, String>(0), "bytea");
    assert_eq!(r.get::<_, Vec<u8>>(1), raw);
    // No extension was created for it.
    let ext = c.query_opt("SELECT 1 FROM pg_extension WHERE extname = 'postgis'", &[]).await.unwrap();
    assert!(ext.is_none());
    // The spatial index has no meaning on bytea: listed as not translated.
    let u = report.untranslated.iter().find(|u| u.object == "SPATIAL_location").expect("listed");
    assert_eq!(u.action, "not created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_coordinate_or_srid_changes_the_read_back_checksum() {
    require_postgis().await;
    let name = "t_spatial_tamper";
    reset(name).await;
    let source = fixture();
    let report =
        bak2pg::migrate(source.clone(), &postgis_options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let plan = ddl::plan(source.database(), &PlanOptions { postgis: PostgisMode::Auto, ..Default::default() }).unwrap();
    let position = plan.tables.iter().position(|t| t.source_name == "location").unwrap();
    let tp = &plan.tables[position];
    let sent = report.tables.iter().find(|t| t.source == "dbo.location").unwrap().source_checksum.unwrap();
    let c = connect(name).await;
    c.batch_execute(bak2pg::validate::SESSION_SETTINGS).await.unwrap();
    // Both ways of validating give the same numbers.
    let read = |c| async move {
        let here = bak2pg::validate::read_back(c, position, tp).await.unwrap();
        let server = bak2pg::validate::server_checksum(c, position, tp).await.unwrap();
        assert_eq!(here.checksum, server.checksum, "read back and hashed by the server");
        here.checksum
    };
    assert_eq!(read(&c).await, sent, "unchanged: the same checksum");
    // The longitude moved by 1e-12 degrees (about a hundred units in the last place).
    c.batch_execute(
        "UPDATE public.location SET \"Location\" = ST_SetSRID(ST_MakePoint( \
           ST_X(\"Location\"::geometry) + 1e-12, ST_Y(\"Location\"::geometry)), 4326)::geography",
    )
    .await
    .unwrap();
    assert_ne!(read(&c).await, sent, "a moved longitude is caught");
    // The original point, another SRID.
    c.batch_execute(
        "UPDATE public.location SET \"Location\" = ST_SetSRID(ST_MakePoint(-72.42683, 43.46149), 4269)::geography",
    )
    .await
    .unwrap();
    assert_ne!(read(&c).await, sent, "another SRID is caught");
}

/// SQL Server serialisations built from MS-SSCLRT 2.1's layout (little-endian).
struct Sql(Vec<u8>);

impl Sql {
    fn new(srid: i32, props: u8) -> Self {
        let mut b = srid.to_le_bytes().to_vec();
        b.extend_from_slice(&[1, props]);
        Sql(b)
    }
    fn n(mut self, x: u32) -> Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn f(mut self, xs: &[f64]) -> Self {
        xs.iter().for_each(|x| self.0.extend_from_slice(&x.to_le_bytes()));
        self
    }
    fn figures(mut self, f: &[(u8, u32)]) -> Self {
        self = self.n(f.len() as u32);
        for (a, o) in f {
            self.0.push(*a);
            self.0.extend_from_slice(&o.to_le_bytes());
        }
        self
    }
    fn shapes(mut self, s: &[(i32, i32, u8)]) -> Value {
        self = self.n(s.len() as u32);
        for (p, f, t) in s {
            self.0.extend_from_slice(&p.to_le_bytes());
            self.0.extend_from_slice(&f.to_le_bytes());
            self.0.push(*t);
        }
        Value::Binary(self.0)
    }
    fn done(self) -> Value {
        Value::Binary(self.0)
    }
}

/// (geometry value, geography value, expected `ST_AsEWKT` of each).
fn shapes() -> Vec<(Value, Value, &'static str, &'static str)> {
    const V: u8 = 0x04;
    vec![
        (
            Sql::new(0, V | 0x08).f(&[3.0, 4.0]).done(),
            Sql::new(4326, V | 0x08).f(&[47.65, -122.35]).done(),
            "POINT(3 4)",
            "SRID=4326;POINT(-122.35 47.65)",
        ),
        (
            Sql::new(0, V | 0x08 | 0x01 | 0x02).f(&[1.0, 2.0, 3.0, 4.0]).done(),
            Sql::new(4269, V | 0x10).f(&[10.0, 20.0, 11.0, 21.0]).done(),
            "POINT(1 2 3 4)",
            "SRID=4269;LINESTRING(20 10,21 11)",
        ),
        (
            Sql::new(3857, V).n(3).f(&[0., 0., 1., 1., 2., 0.]).figures(&[(1, 0)]).shapes(&[(-1, 0, 2)]),
            Sql::new(4326, V)
                .n(9)
                .f(&[0., 0., 0., 10., 10., 10., 10., 0., 0., 0., 2., 2., 3., 2., 3., 3., 2., 2.])
                .figures(&[(2, 0), (0, 5)])
                .shapes(&[(-1, 0, 3)]),
            "SRID=3857;LINESTRING(0 0,1 1,2 0)",
            "SRID=4326;POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,2 3,3 3,2 2))",
        ),
        (
            Sql::new(0, V).n(2).f(&[1., 2., 3., 4.]).figures(&[(1, 0), (1, 1)]).shapes(&[
                (-1, 0, 4),
                (0, 0, 1),
                (0, 1, 1),
            ]),
            Sql::new(4326, V).n(4).f(&[0., 0., 1., 1., 5., 5., 6., 6.]).figures(&[(1, 0), (1, 2)]).shapes(&[
                (-1, 0, 5),
                (0, 0, 2),
                (0, 1, 2),
            ]),
            "MULTIPOINT(1 2,3 4)",
            "SRID=4326;MULTILINESTRING((0 0,1 1),(5 5,6 6))",
        ),
        (
            Sql::new(0, V)
                .n(8)
                .f(&[0., 0., 1., 0., 1., 1., 0., 0., 5., 5., 6., 5., 6., 6., 5., 5.])
                .figures(&[(2, 0), (2, 4)])
                .shapes(&[(-1, 0, 6), (0, 0, 3), (0, 1, 3)]),
            Sql::new(4326, V | 0x01)
                .n(3)
                .f(&[2., 1., 0., 0., 3., 3.])
                .f(&[7., 8., 9.])
                .figures(&[(1, 0), (1, 1)])
                .shapes(&[(-1, 0, 7), (0, 0, 1), (0, 1, 2), (0, -1, 1)]),
            "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))",
            "SRID=4326;GEOMETRYCOLLECTION(POINT(1 2 7),LINESTRING(0 0 8,3 3 9),POINT EMPTY)",
        ),
        (
            // GEOMETRYCOLLECTION(MULTIPOINT((1 1), (2 2)), POINT(3 3)): nested, pre-order.
            Sql::new(0, V).n(3).f(&[1., 1., 2., 2., 3., 3.]).figures(&[(1, 0), (1, 1), (1, 2)]).shapes(&[
                (-1, 0, 7),
                (0, 0, 4),
                (1, 0, 1),
                (1, 1, 1),
                (0, 2, 1),
            ]),
            // MULTIPOINT((1 1), EMPTY, (2 2)): the empty child has no figure (-1).
            Sql::new(4326, V).n(2).f(&[1., 1., 2., 2.]).figures(&[(1, 0), (1, 1)]).shapes(&[
                (-1, 0, 4),
                (0, 0, 1),
                (0, -1, 1),
                (0, 1, 1),
            ]),
            "GEOMETRYCOLLECTION(MULTIPOINT(1 1,2 2),POINT(3 3))",
            "SRID=4326;MULTIPOINT(1 1,EMPTY,2 2)",
        ),
        (
            Sql::new(0, V).n(0).figures(&[]).shapes(&[(-1, -1, 7)]),
            Sql::new(4326, V).n(0).figures(&[]).shapes(&[(-1, -1, 1)]),
            "GEOMETRYCOLLECTION EMPTY",
            "SRID=4326;POINT EMPTY",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_kind_arrives_as_postgis_holds_it() {
    require_postgis().await;
    let name = "t_spatial_shapes";
    reset(name).await;
    let mut t = table(
        "dbo",
        "shapes",
        vec![not_null(col("id", SqlType::Int)), col("geom", SqlType::Geometry), col("geog", SqlType::Geography)],
    );
    t.primary_key = Some(key("PK_shapes", &["id"]));
    let cases = shapes();
    let mut rows: Vec<Vec<Value>> =
        cases.iter().enumerate().map(|(i, (g, h, ..))| vec![Value::Int(i as i32), g.clone(), h.clone()]).collect();
    rows.push(vec![Value::Int(99), Value::Null, Value::Null]);
    let source = MemSource::new(database(name, vec![t]), vec![rows]);
    // The checksums compare our EWKB with ST_AsEWKB of what PostGIS holds: a pass means
    // PostGIS read and wrote back every value byte for byte.
    let report = bak2pg::migrate(source, &postgis_options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert_eq!(report.tables[0].status, TableStatus::Match);
    assert_eq!(report.tables[0].rows, cases.len() as u64 + 1);
    let c = connect(name).await;
    let got = c.query("SELECT ST_AsEWKT(geom), ST_AsEWKT(geog) FROM public.shapes ORDER BY id", &[]).await.unwrap();
    for (i, (_, _, geom, geog)) in cases.iter().enumerate() {
        assert_eq!(got[i].get::<_, Option<String>>(0).as_deref(), Some(*geom), "geometry {i}");
        assert_eq!(got[i].get::<_, Option<String>>(1).as_deref(), Some(*geog), "geography {i}");
    }
    assert_eq!(got[cases.len()].get::<_, Option<String>>(0), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_curve_fails_its_table_by_name_and_offset() {
    require_postgis().await;
    let name = "t_spatial_curve";
    reset(name).await;
    let t = table("dbo", "arcs", vec![col("id", SqlType::Int), col("g", SqlType::Geometry)]);
    // CIRCULARSTRING(0 0, 1 1, 2 0): version 2, an arc figure (attribute 2) at byte 62.
    let mut raw = Sql::new(0, 0x04).n(3).f(&[0., 0., 1., 1., 2., 0.]).figures(&[(2, 0)]).shapes(&[(-1, 0, 8)]);
    if let Value::Binary(b) = &mut raw {
        b[4] = 2;
    }
    let source = MemSource::new(database(name, vec![t]), vec![vec![vec![Value::Int(1), raw]]]);
    let err = bak2pg::migrate(source, &postgis_options(name), &NoProgress).await.expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("dbo.arcs")
            && msg.contains("row 1, column g")
            && msg.contains("geometry value refused at byte 62")
            && msg.contains("circular arcs (an arc figure)")
            && msg.contains("--postgis off"),
        "{msg}"
    );
    assert!(databases(name).await.is_empty(), "nothing left behind: {:?}", databases(name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_privilege_auto_falls_back_to_bytea_and_says_why() {
    require_postgis().await;
    let name = "t_spatial_nosuper";
    let role = "bak2pg_spatial_nosuper";
    reset(name).await;
    let admin = connect("postgres").await;
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN \
             CREATE ROLE {role} LOGIN CREATEDB; END IF; END $$"
        ))
        .await
        .unwrap();
    let url = pg_url().replacen("://postgres@", &format!("://{role}@"), 1);
    assert_ne!(url, pg_url(), "the test URL names the postgres user");
    let mut opts = postgis_options(name);
    opts.target = bak2pg::target::Target::parse(&url).unwrap();
    let report = bak2pg::migrate(fixture(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    let sc = report.special_columns.iter().find(|c| c.column == "Location").unwrap();
    assert_eq!(sc.note, MappingNote::RawClrBytes);
    let why = format!("creating the postgis extension needs a superuser, and role {role:?} is not one");
    assert_eq!(sc.detail.as_deref(), Some(format!("raw bytes in bytea: {why}").as_str()));
    assert!(
        report.warnings.iter().any(|w| w.contains(&why) && w.contains("1 geography/geometry columns")),
        "{:?}",
        report.warnings
    );
    let c = connect(name).await;
    let ty: String =
        c.query_one("SELECT pg_typeof(\"Location\")::text FROM public.location", &[]).await.unwrap().get(0);
    assert_eq!(ty, "bytea");
    drop(c);
    reset(name).await;
    admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}")).await.unwrap();
}
