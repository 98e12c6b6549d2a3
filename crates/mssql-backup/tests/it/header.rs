//! `header::read` on every real fixture: the values MANIFEST.md lists (database, server,
//! build, internal version, backup-set name and date, file paths), the media family of the
//! striped fixtures, cross-checks against other bytes of the same backup, and malformed
//! input.

use std::path::Path;

use mssql_backup::ErrorKind;
use mssql_backup::internals::header::{self, BackupDescription, BackupType, FileType, Lsn, Timestamp};
use mssql_backup::internals::mtf::MtfImage;
use mssql_backup::internals::source::{ByteSource, MmapSource};

use crate::fixture;

/// What one fixture must read as. Database, server, version, internal version, backup-set
/// name, start (local time) and physical paths are MANIFEST.md's; the UTC offsets, logical
/// names (MANIFEST gives only `HotelReservation*` and `BikeStore`) and families were read
/// from the bytes and are pinned here against regressions.
struct Expected {
    file: &'static str,
    database: &'static str,
    server: &'static str,
    version: &'static str,
    database_version: u16,
    backup_name: &'static str,
    start: &'static str,
    /// (family count, family number)
    family: (u16, u16),
    /// (logical name, physical name, file id, type)
    files: &'static [(&'static str, &'static str, u16, FileType)],
}

const UNCOMPRESSED: &[Expected] = &[
    Expected {
        file: "northwind-sql2005-tornpage.bak",
        database: "NORTHWND",
        server: "TTLVM2",
        version: "9.0.3042",
        database_version: 611,
        backup_name: "NORTHWND-Full Database Backup",
        start: "2011-08-10T19:46:56+05:30",
        family: (1, 1),
        files: &[
            ("Northwind", r"D:\MSSQLDataFiles\UNTC\DB_All\DB\NORTHWND.MDF", 1, FileType::Data),
            ("Northwind_log", r"D:\MSSQLDataFiles\UNTC\DB_All\DB\NORTHWND_log.ldf", 2, FileType::Log),
        ],
    },
    Expected {
        file: "northwind-sql2008-tornpage.bak",
        database: "NorthWind",
        server: "DESKTOP-SQDJPA0",
        version: "10.0.1600",
        database_version: 655,
        backup_name: "NorthWind-Full Database Backup",
        start: "2019-05-05T17:55:37+07:00",
        family: (1, 1),
        files: &[
            (
                "Northwind",
                r"C:\Program Files\Microsoft SQL Server\MSSQL10.MSSQLSERVER\MSSQL\DATA\NorthWind.MDF",
                1,
                FileType::Data,
            ),
            (
                "Northwind_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL10.MSSQLSERVER\MSSQL\DATA\NorthWind_1.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "northwind-sql2008r2.bak",
        database: "Northwind",
        server: "I301-40",
        version: "10.50.2500",
        database_version: 661,
        backup_name: "Northwind-Full Database Backup",
        start: "2015-02-05T21:35:33-05:00",
        family: (1, 1),
        files: &[
            (
                "Northwind",
                r"C:\Program Files\Microsoft SQL Server\MSSQL10_50.MSSQLSERVER\MSSQL\DATA\northwnd.mdf",
                1,
                FileType::Data,
            ),
            (
                "Northwind_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL10_50.MSSQLSERVER\MSSQL\DATA\northwnd.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "pubs-sql2012.bak",
        database: "pubs",
        server: "DESKTOP-7LEAC57",
        version: "11.0.6020",
        database_version: 706,
        backup_name: "pubs-Full Database Backup",
        start: "2026-04-27T10:29:52+06:00",
        family: (1, 1),
        files: &[
            (
                "pubs",
                r"C:\Program Files (x86)\Microsoft SQL Server\MSSQL11.MSSQLSERVER\MSSQL\DATA\pubs.mdf",
                1,
                FileType::Data,
            ),
            (
                "pubs_log",
                r"C:\Program Files (x86)\Microsoft SQL Server\MSSQL11.MSSQLSERVER\MSSQL\DATA\pubs_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "northwind-sql2014-stripe-partial.bak",
        database: "Northwind",
        server: "LENOVO",
        version: "12.0.2000",
        database_version: 782,
        backup_name: "Northwind-Full Database Backup",
        start: "2024-12-09T18:58:10-05:00",
        family: (2, 1),
        files: &[
            (
                "Northwind",
                r"C:\Program Files\Microsoft SQL Server\MSSQL12.MSSQLSERVER\MSSQL\DATA\Northwind.mdf",
                1,
                FileType::Data,
            ),
            (
                "Northwind_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL12.MSSQLSERVER\MSSQL\DATA\Northwind_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "northwind-sql2014-multifile.bak",
        database: "Northwind",
        server: r"LAB-8\SQLSERVER2014",
        version: "12.0.2000",
        database_version: 782,
        backup_name: "",
        start: "2018-10-22T11:22:11-06:00",
        family: (1, 1),
        files: &[
            ("Northwind", r"D:\Base de Datos\Archivos BD Adventure\Archivos BD\northwnd.mdf", 1, FileType::Data),
            ("Northwind_1", r"D:\Base de Datos\Archivos BD Adventure\Archivos BD\Northwind_1.ndf", 3, FileType::Data),
            ("Northwind_2", r"D:\Base de Datos\Archivos BD Adventure\Archivos BD\Northwind_2.ndf", 4, FileType::Data),
            ("Northwind_log", r"D:\Base de Datos\Archivos BD Adventure\Archivos BD\northwnd.ldf", 2, FileType::Log),
        ],
    },
    Expected {
        file: "bikestores-sql2017.bak",
        database: "BikeStores",
        server: r"DESKTOP-TEJ1NEG\SQLEXPRESS",
        version: "14.0.1000",
        database_version: 869,
        backup_name: "EmployeeDB-Full Database Backup",
        start: "2019-11-26T13:13:26+07:00",
        family: (1, 1),
        files: &[
            (
                "BikeStore",
                r"C:\Program Files\Microsoft SQL Server\MSSQL14.SQLEXPRESS\MSSQL\DATA\BikeStore.mdf",
                1,
                FileType::Data,
            ),
            (
                "BikeStore_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL14.SQLEXPRESS\MSSQL\DATA\BikeStore_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "northwind-sql2019-modified-tornpage.bak",
        database: "Northwind",
        server: "DESKTOP-8G1N3T8",
        version: "15.0.2080",
        database_version: 904,
        backup_name: "Northwind-Full Database Backup",
        start: "2021-06-16T10:03:26+03:00",
        family: (1, 1),
        files: &[
            (
                "Northwind",
                r"C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\DATA\NORTHWND.MDF",
                1,
                FileType::Data,
            ),
            (
                "Northwind_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\DATA\NORTHWND_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "quanlymypham-sql2022-stripe-partial.bak",
        database: "QuanLyMyPham",
        server: "DESKTOP-HITHCC3",
        version: "16.0.1000",
        database_version: 957,
        backup_name: "QuanLyMyPham-Full Database Backup",
        start: "2024-05-31T20:15:00+07:00",
        family: (2, 2),
        files: &[
            (
                "QuanLyMyPham",
                r"E:\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\DATA\QuanLyMyPham.mdf",
                1,
                FileType::Data,
            ),
            (
                "QuanLyMyPham_log",
                r"E:\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\DATA\QuanLyMyPham_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "chinook-sql2025-stripe-partial.bak",
        database: "Chinook",
        server: r"Vodka\SQLEXPRESS",
        version: "17.0.1050",
        database_version: 998,
        backup_name: "Chinook-Full Database Backup",
        start: "2026-03-05T16:51:08+02:00",
        family: (2, 1),
        files: &[
            (
                "Chinook",
                r"C:\Program Files\Microsoft SQL Server\MSSQL17.SQLEXPRESS\MSSQL\DATA\Chinook.mdf",
                1,
                FileType::Data,
            ),
            (
                "Chinook_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL17.SQLEXPRESS\MSSQL\DATA\Chinook_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "hotel-projethotel-guid-sql2022.bak",
        database: "Hotel",
        server: r"DESKTOP-6232TJE\SQLEXPRESS",
        version: "16.0.1000",
        database_version: 957,
        backup_name: "Hotel-Complète Base de données Sauvegarde",
        start: "2025-10-23T09:06:38-04:00",
        family: (1, 1),
        files: &[
            (
                "Hotel",
                r"C:\Program Files\Microsoft SQL Server\MSSQL16.SQLEXPRESS\MSSQL\DATA\Hotel.mdf",
                1,
                FileType::Data,
            ),
            (
                "Hotel_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL16.SQLEXPRESS\MSSQL\DATA\Hotel_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "hotel-qlks-vietnamese-sql2019.bak",
        database: "QLKS",
        server: r"DESKTOP-763PS1F\THANHTRUC",
        version: "15.0.2000",
        database_version: 904,
        backup_name: "QLKS-Full Database Backup",
        start: "2022-12-31T18:54:31+07:00",
        family: (1, 1),
        files: &[
            ("QLKS", r"E:\Microsoft SQL Server\MSSQL15.THANHTRUC\MSSQL\DATA\QLKS.mdf", 1, FileType::Data),
            ("QLKS_log", r"E:\Microsoft SQL Server\MSSQL15.THANHTRUC\MSSQL\DATA\QLKS_log.ldf", 2, FileType::Log),
        ],
    },
    Expected {
        file: "hotel-management-time-sql2017.bak",
        database: "HotelManagementSystem",
        server: r"LAPTOP-1CS87OQM\SQLEXPRESS",
        version: "14.0.1000",
        database_version: 869,
        backup_name: "HotelManagementSystem-Full Database Backup",
        start: "2019-02-05T21:08:59+08:00",
        family: (1, 1),
        files: &[
            (
                "HotelReservation",
                r"D:\Programming\MSSQL14.SQLEXPRESS\MSSQL\DATA\HotelReservation.mdf",
                1,
                FileType::Data,
            ),
            (
                "HotelReservation_log",
                r"D:\Programming\MSSQL14.SQLEXPRESS\MSSQL\DATA\HotelReservation_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
];

/// The compressed fixtures, as read from their decompressed MTF stream during the
/// analysis (database, server, versions, name, date and paths are also MANIFEST's).
const COMPRESSED: &[Expected] = &[
    Expected {
        file: "northwind-sql2016-compressed.bak",
        database: "NORTHWIND",
        server: "INFORMATICA_07",
        version: "13.0.5026",
        database_version: 852,
        backup_name: "NORTHWIND-Full Database Backup",
        start: "2021-10-14T08:10:22-06:00",
        family: (1, 1),
        files: &[
            ("Northwind", r"G:\SQLServer\MSSQL13.MSSQLSERVER\MSSQL\DATA\NORTHWIND.MDF", 1, FileType::Data),
            ("Northwind_log", r"G:\SQLServer\MSSQL13.MSSQLSERVER\MSSQL\DATA\NORTHWIND_log.ldf", 2, FileType::Log),
        ],
    },
    Expected {
        file: "tsqlv4-sql2016-compressed.bak",
        database: "TSQLV4",
        server: r"EC3\QC",
        version: "13.0.2186",
        database_version: 852,
        backup_name: "TSQLV4-Full Database Backup",
        start: "2017-01-10T08:01:42-05:00",
        family: (1, 1),
        files: &[
            ("TSQLV4", r"D:\Program Files\Microsoft SQL Server\MSSQL13.QC\MSSQL\Data\TSQLV4.mdf", 1, FileType::Data),
            (
                "TSQLV4_log",
                r"L:\Program Files\Microsoft SQL Server\MSSQL13.QC\MSSQL\Data\TSQLV4_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
    Expected {
        file: "universidad-sql2019-compressed.bak",
        database: "Universidad",
        server: r"DESKTOP-HOUH26G\SQLSERVER2019",
        version: "15.0.2000",
        database_version: 904,
        backup_name: "Full Comprimido",
        start: "2023-03-09T09:51:36-06:00",
        family: (1, 1),
        files: &[
            (
                "Universidad",
                r"C:\Program Files\Microsoft SQL Server\MSSQL15.SQLSERVER2019\MSSQL\DATA\Universidad.mdf",
                1,
                FileType::Data,
            ),
            (
                "Universidad_log",
                r"C:\Program Files\Microsoft SQL Server\MSSQL15.SQLSERVER2019\MSSQL\DATA\Universidad_log.ldf",
                2,
                FileType::Log,
            ),
        ],
    },
];

fn describe(src: &dyn ByteSource, compressed: bool) -> (MtfImage, BackupDescription) {
    let img = MtfImage::parse(src).unwrap();
    let d = header::read_sets(&img, src, compressed).map(|mut s| s.remove(0)).unwrap();
    (img, d)
}

fn check(e: &Expected, d: &BackupDescription, compressed: bool) {
    let h = &d.header;
    let name = e.file;
    assert_eq!(h.database_name, e.database, "{name}");
    assert_eq!(h.server_name, e.server, "{name}");
    assert_eq!(h.product_version.to_string(), e.version, "{name}");
    assert_eq!(h.database_version, e.database_version, "{name}");
    assert_eq!(h.backup_name, e.backup_name, "{name}");
    assert_eq!(h.start.to_string(), e.start, "{name}");
    assert_eq!(h.backup_type, BackupType::Database, "{name}");
    assert_eq!(h.compressed, compressed, "{name}");
    assert!(!h.copy_only, "{name}");
    assert_eq!(h.backup_sets_in_file, 1, "{name}");
    assert_eq!(h.media.software_name, "Microsoft SQL Server", "{name}");
    let family = h.media.family.unwrap_or_else(|| panic!("{name}: no RAID stream"));
    assert_eq!((family.family_count, family.family_sequence), e.family, "{name}");
    // The machine is the server's host part.
    let host = e.server.split('\\').next().unwrap();
    assert!(h.machine_name.eq_ignore_ascii_case(host), "{name}: machine {:?}", h.machine_name);
    // LSN order of a full backup, and the finish right after the start.
    let l = h.lsns;
    assert!(l.first == l.checkpoint && l.checkpoint < l.last && l.last.slot == 1, "{name}: {l:?}");
    assert!(l.database_backup.is_none_or(|b| b < l.first), "{name}: {l:?}");
    let finish = h.finish.unwrap_or_else(|| panic!("{name}: no finish date"));
    assert_eq!((finish.year, finish.month), (h.start.year, h.start.month), "{name}: finish {finish}");
    assert!(h.backup_size.is_some_and(|s| s > 1 << 20), "{name}");
    assert!(h.tde_key.is_none() && h.other_records.is_empty(), "{name}");
    let got: Vec<(&str, &str, u16, FileType)> =
        d.files.iter().map(|f| (f.logical_name.as_str(), f.physical_name.as_str(), f.file_id, f.file_type)).collect();
    assert_eq!(got, e.files, "{name}");
    for f in &d.files {
        match f.file_type {
            FileType::Data => assert_eq!(f.filegroup_name.as_deref(), Some("PRIMARY"), "{name}"),
            _ => assert_eq!((f.filegroup_id, f.filegroup_name.as_deref()), (0, None), "{name}"),
        }
        assert!(f.size_bytes > 0 && f.size_bytes % 8192 == 0 && f.size_bytes <= f.max_size_bytes, "{name}: {f:?}");
    }
}

#[test]
fn every_uncompressed_fixture_reads_as_manifest_lists_it() {
    for e in UNCOMPRESSED {
        let src = MmapSource::open(&fixture(e.file)).unwrap();
        let (_, d) = describe(&src, false);
        check(e, &d, false);
    }
}

/// Opens a compressed backup as its decompressed MTF stream.
fn decompressed(path: &Path) -> Box<dyn ByteSource> {
    Box::new(mssql_backup::internals::compressed::CompressedSource::open(path).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn every_compressed_fixture_reads_as_manifest_lists_it() {
    for e in COMPRESSED {
        let src = decompressed(&fixture(e.file));
        let (_, d) = describe(src.as_ref(), true);
        check(e, &d, true);
    }
}

#[test]
fn each_stripe_alone_is_incomplete_and_the_others_are_restorable() {
    let mut headers = Vec::new();
    for e in UNCOMPRESSED {
        let src = MmapSource::open(&fixture(e.file)).unwrap();
        let h = describe(&src, false).1.header;
        h.ensure_restorable().unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let verdict = header::check_media_set(&[&h]);
        if e.family.0 > 1 {
            let err = verdict.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Incomplete, "{}", e.file);
            // Two families: the missing one is the other.
            let part = format!("media set of 2 families and family {} is missing", 3 - e.family.1);
            assert!(err.message.contains(&part), "{}: {err}", e.file);
        } else {
            verdict.unwrap_or_else(|err| panic!("{}: {err}", e.file));
        }
        headers.push(h);
    }
    // Two different backups do not make one media set.
    let e = header::check_media_set(&[&headers[0], &headers[1]]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
}

/// The boot page's `dbi_checkptLSN` (page 1:9, type 13, LSN at page offset 96 + 348 per
/// the public mssqlbak notes) in the backup's last copy of that page.
fn boot_checkpoint(img: &MtfImage, src: &dyn ByteSource) -> Option<Lsn> {
    let mut found = None;
    for run in img.page_runs().unwrap() {
        for i in 0..run.pages {
            let mut page = [0u8; 454];
            src.read_exact_at(run.offset + i * 8192, &mut page).unwrap();
            let page_id = u32::from_le_bytes(page[32..36].try_into().unwrap());
            let file_id = u16::from_le_bytes(page[36..38].try_into().unwrap());
            if page[1] == 13 && page_id == 9 && file_id == 1 {
                found = Some(Lsn::from_bytes(page[444..454].try_into().unwrap()));
            }
        }
    }
    found
}

#[test]
fn checkpoint_lsn_is_the_boot_pages() {
    let mut compared = 0;
    for e in UNCOMPRESSED {
        let src = MmapSource::open(&fixture(e.file)).unwrap();
        let (img, d) = describe(&src, false);
        // northwind-sql2014-stripe-partial carries no boot page (MANIFEST, finding 5).
        if let Some(boot) = boot_checkpoint(&img, &src) {
            assert_eq!(d.header.lsns.checkpoint, boot, "{}", e.file);
            compared += 1;
        }
    }
    assert_eq!(compared, UNCOMPRESSED.len() - 1);
}

/// Seconds since 1970-01-01 of a civil date-time (proleptic Gregorian).
fn unix_seconds(t: &Timestamp) -> i64 {
    let (y, m) = if t.month <= 2 {
        (i64::from(t.year) - 1, i64::from(t.month) + 9)
    } else {
        (i64::from(t.year), i64::from(t.month) - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + i64::from(t.day) - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second)
}

/// The UTC `FILETIME` (100 ns since 1601) a data file's closing `SFIN` record holds at
/// 0x106, found independently of the reader: the first `SFIN` tag in the `MSLS` stream.
fn sfin_filetime_unix(img: &MtfImage, src: &dyn ByteSource) -> i64 {
    let s = img.block(b"MSLS").and_then(|b| b.stream(b"MQCI")).unwrap();
    let mut data = vec![0u8; s.len as usize];
    src.read_exact_at(s.data_offset, &mut data).unwrap();
    let at = data.windows(4).position(|w| w == b"SFIN").unwrap();
    let ft = u64::from_le_bytes(data[at + 0x106..at + 0x10e].try_into().unwrap());
    (ft / 10_000_000) as i64 - 11_644_473_600
}

#[test]
fn start_and_finish_are_local_times_at_the_stated_offset() {
    for e in UNCOMPRESSED {
        let src = MmapSource::open(&fixture(e.file)).unwrap();
        let (img, d) = describe(&src, false);
        let utc = |t: &Timestamp| unix_seconds(t) - 60 * i64::from(t.utc_offset_minutes.unwrap());
        let written = sfin_filetime_unix(&img, &src);
        let (start, finish) = (utc(&d.header.start), utc(&d.header.finish.unwrap()));
        assert!(start <= written && written <= finish, "{}: {start} {written} {finish}", e.file);
    }
}

#[test]
fn northwind_2008r2_in_detail() {
    let src = MmapSource::open(&fixture("northwind-sql2008r2.bak")).unwrap();
    let (_, d) = describe(&src, false);
    let json = serde_json::to_value(&d).unwrap();
    let h = &json["header"];
    assert_eq!(h["lsns"]["first"], "90:380:210");
    assert_eq!(h["lsns"]["last"], "90:468:1");
    assert_eq!(h["lsns"]["checkpoint"], "90:380:210");
    assert_eq!(h["lsns"]["database_backup"], serde_json::Value::Null);
    assert_eq!(h["finish"], "2015-02-05T21:35:34-05:00");
    assert_eq!(h["database_creation_date"], "2015-02-05T18:08:15");
    assert_eq!(h["compatibility_level"], 100);
    assert_eq!(h["user_name"], r"I301-40\Almno");
    assert_eq!(h["backup_set_guid"], "5f19d394-40e3-4fcd-8631-667c1decb425");
    assert_eq!(h["backup_size"], 3_683_328);
    // Modern_Spanish_CI_AS: LCID 0xc0a, case-insensitive, accent-sensitive, Windows sort.
    assert_eq!(h["collation"], serde_json::json!({"lcid": 0xc0a, "flags": 0x0d, "version": 0, "sort_id": 0}));
    assert_eq!(h["backup_type"], "database");
    let files = &json["files"];
    assert_eq!(files[0]["size_bytes"], 4_456_448);
    assert_eq!(files[0]["max_size_bytes"], 35_184_372_080_640_u64);
    assert_eq!(files[1]["size_bytes"], 1_048_576);
    assert_eq!(files[1]["max_size_bytes"], 2_199_023_255_552_u64);
    assert_eq!(files[1]["file_type"], "log");
    // The description round-trips through JSON (`inspect --json`).
    let back: BackupDescription = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
}

#[test]
fn database_backup_lsn_links_the_2008_northwind_to_the_2005_backup() {
    let read = |name| {
        let src = MmapSource::open(&fixture(name)).unwrap();
        describe(&src, false).1.header
    };
    let y2005 = read("northwind-sql2005-tornpage.bak");
    let y2008 = read("northwind-sql2008-tornpage.bak");
    assert_eq!(y2008.lsns.database_backup, Some(y2005.lsns.checkpoint));
    assert_eq!(y2005.family_guid, y2008.family_guid);
}

/// A fixture's bytes in memory, with the offset of its opening `MQCI` stream data.
fn in_memory(name: &str) -> (Vec<u8>, MtfImage, u64) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let img = MtfImage::parse(&bytes).unwrap();
    let mqci = img.block(b"MSCI").and_then(|b| b.stream(b"MQCI")).unwrap().data_offset;
    (bytes, img, mqci)
}

#[test]
fn malformed_records_are_reported_at_their_offset() {
    let (bytes, img, mqci) = in_memory("northwind-sql2008r2.bak");
    // The closing copy is preferred: damage both copies alike.
    let msls = img.block(b"MSLS").and_then(|b| b.stream(b"MQCI")).unwrap().data_offset;
    let damage = |at: u64, with: &[u8]| {
        let mut b = bytes.clone();
        for base in [mqci, msls] {
            b[(base + at) as usize..(base + at) as usize + with.len()].copy_from_slice(with);
        }
        header::read_sets(&img, &b, false).map(|mut s| s.remove(0)).unwrap_err()
    };
    // SCIN length 4: below a record header.
    let e = damage(4, &4u32.to_le_bytes());
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(msls)), "{e}");
    // Database name pointing past the SCIN record (0x18c bytes).
    let e = damage(0x68, &[0x12, 0, 0x80, 0x01]);
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(msls + 0x68)), "{e}");
    assert!(e.message.contains("database name") && e.message.contains("SCIN record"), "{e}");
    // Month 0 in the start date.
    let e = damage(0x4D, &[0x1f, 0x7c, 0x0b, 0x58, 0xe1]);
    assert_eq!(e.offset, Some(msls + 0x4D), "{e}");
    // A second data file with id 1 (the log SFIN record is at 0x684 in the stream).
    let e = damage(0x684 + 0x14, &1u32.to_le_bytes());
    assert!(e.message.contains("second file with id 1"), "{e}");
}

#[test]
fn the_opening_copy_serves_when_the_closing_one_is_absent() {
    let src = MmapSource::open(&fixture("northwind-sql2019-modified-tornpage.bak")).unwrap();
    let mut img = MtfImage::parse(&src).unwrap();
    let full = header::read_sets(&img, &src, false).map(|mut s| s.remove(0)).unwrap();
    img.blocks.retain(|b| &b.kind != b"MSLS");
    let opening = header::read_sets(&img, &src, false).map(|mut s| s.remove(0)).unwrap();
    assert_eq!((opening.header.finish, opening.header.backup_size), (None, None));
    // SQL Server 2019: the opening copy's LSNs precede the closing copy's.
    assert!(opening.header.lsns.last < full.header.lsns.last);
    assert_eq!(opening.header.database_name, full.header.database_name);
    assert_eq!(opening.files, full.files);
}

/// xorshift64: deterministic noise without a dependency.
fn noise(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_damage_to_the_header_never_panics() {
    let (bytes, img, mqci) = in_memory("northwind-sql2014-multifile.bak");
    let msls = img.block(b"MSLS").and_then(|b| b.stream(b"MQCI")).unwrap();
    let len = msls.len;
    let mut state = 0x9e37_79b9_7f4a_7c15;
    let mut errors = 0;
    let mut b = bytes.clone();
    for _ in 0..1000 {
        let mut changed = Vec::new();
        for _ in 0..1 + noise(&mut state) % 8 {
            let base = if noise(&mut state).is_multiple_of(2) { mqci } else { msls.data_offset };
            let at = (base + noise(&mut state) % len) as usize;
            changed.push(at);
            b[at] = noise(&mut state) as u8;
        }
        if header::read_sets(&img, &b, false).map(|mut s| s.remove(0)).is_err() {
            errors += 1;
        }
        for at in changed {
            b[at] = bytes[at];
        }
    }
    // Most single-byte damage lands in padding or names; some must be caught.
    assert!(errors > 0);
}
