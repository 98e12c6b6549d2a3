//! SQL Server collations: what the stored 32-bit collation id means, and decoding of
//! 8-bit character data (`char`, `varchar`, `text`) with the collation's code page.
//!
//! # The stored collation id
//!
//! `syscolpars.collationid`, the boot page's `dbi_collation` and the collation word of a
//! `sql_variant` string hold the value `COLLATIONPROPERTY(name, 'CollationID')` reports.
//! It is *not* the TDS collation (whose low 20 bits are a Windows LCID); it is composed
//! as follows (bit 0 is the least significant):
//!
//! | bits   | meaning |
//! |--------|---------|
//! | 0–7    | Windows collation family index (8 = `Latin1_General`, 32 = `Vietnamese`, 36 = `Chinese_PRC`, …; see [`FAMILIES`]) |
//! | 8      | `_SC` (supplementary characters); also set by every version-140 non-binary collation |
//! | 9      | variation selectors *ignored*: set on version-140 collations without `_VSS` |
//! | 10     | `_UTF8` — **inferred, not observed**: the only bit of the low 20 that no collation of SQL Server ≤ 2017 uses (see below) |
//! | 11     | `_BIN2` |
//! | 12     | case-insensitive (`_CI`; clear = `_CS`) |
//! | 13     | accent-insensitive (`_AI`; clear = `_AS`) |
//! | 14     | kana-insensitive (clear = `_KS`) |
//! | 15     | width-insensitive (clear = `_WS`) |
//! | 16     | `_BIN` |
//! | 17–19  | version: 0 = 80 (no number), 1 = `_90`, 2 = `_100`, 3 = `_140` |
//! | 24–31  | SQL sort order id for `SQL_*` collations (0 for Windows collations) |
//!
//! Example: `SQL_Latin1_General_CP1_CI_AS` = 872468488 = `0x3400D008`: sort id 52
//! (`nocase_iso`) over the Windows part `0xD008` = `Latin1_General_CI_AS` (family 8, flags
//! case-, kana- and width-insensitive).
//!
//! Evidence: the layout was derived from, and checked against, the complete
//! `sys.fn_helpcollations()` dump with `COLLATIONPROPERTY(name, 'CollationID')`, `'LCID'`
//! and `'TDSCollation'` published in OrcaSql (ycherkes/OrcaSql,
//! `src/OrcaSql.Core/MetaData/TableValuedDictionaries/Collations.cs`, 3 955 collations of
//! SQL Server 2017): every Windows collation name there is re-derived exactly by
//! [`lookup`] from its id, and every `SQL_*` one from its sort id and flags. The ids seen
//! in this project's real backups agree (`0x3400D008` everywhere, `0xD00B` =
//! `French_CI_AS` in a French database, `0xD028` = `Modern_Spanish_CI_AS` in a Spanish
//! one), as do the ids mssqlbak (rsleedbx/mssqlbak-tests, `tests/test_unicode_decode.py`)
//! probed from SQL Server 2022 (`Cyrillic_General_CI_AS` = `0xD015`, `Greek_CI_AS` =
//! `0xD007`, `Vietnamese_CI_AS` = `0xD020`, …).
//!
//! The `_UTF8` bit: SQL Server 2019 added the `_UTF8` collations after that dump was
//! taken, and no backup at hand uses one. Bit 10 is the only unused bit of the Windows
//! part, and UTF-8 is the only collation property added since, so [`lookup`] reads bit 10
//! as `_UTF8` — but only where SQL Server allows `_UTF8` (on `_SC`, version-140 or
//! version-100+ `_BIN2` collations); anywhere else it is an unknown bit and an error.
//! Decoding of UTF-8 data counts every malformed sequence in
//! [`DecodeStats::replaced_codepage`], so a wrong inference cannot go unnoticed.
//!
//! # Code pages
//!
//! The code page of a Windows collation follows from its locale, as SQL Server's own
//! `x_rgLocaleMap` has it (reproduced in Microsoft's JDBC driver, microsoft/mssql-jdbc
//! `SQLCollation.java`, enum `WindowsLocale`); that of a `SQL_*` collation from its sort
//! order (same file, enum `SortOrder`, from SQL Server's `sqlscol.cpp`). Unicode-only
//! collations (`Indic_General`, `Maltese`, …) have no code page: [`Collation::code_page`]
//! is 0 for them, and they cannot hold `char` data unless they are `_UTF8`.

use encoding_rs::{DecoderResult, Encoding};

use crate::scalar::DecodeStats;
use crate::types::Collation;
use crate::{Error, Result};

/// Code page value for UTF-8 (`_UTF8` collations, SQL Server 2019+).
pub const CP_UTF8: u16 = 65001;

/// Windows collation families by the index in bits 0–7 of a collation id: (index, name
/// designator, Windows LCID as `COLLATIONPROPERTY(…, 'LCID')` reports it, ANSI code page;
/// 0 = Unicode-only). Indexes 48–52, 62 and 64 are the `_90` families whose designator
/// repeats an older one (`Japanese_90_*` is family 48, `Japanese_*` family 16).
///
/// Source: names and LCIDs from the `sys.fn_helpcollations()` dump in OrcaSql (see the
/// module documentation); code pages by LCID from SQL Server's locale map as reproduced
/// in microsoft/mssql-jdbc `SQLCollation.java` (`WindowsLocale`).
pub const FAMILIES: &[(u8, &str, u32, u16)] = &[
    (1, "Arabic", 0x00401, 1256),
    (2, "Dari", 0x0048C, 1256),
    (3, "Chinese_Taiwan_Stroke", 0x00404, 950),
    (4, "Czech", 0x00405, 1250),
    (5, "Danish_Norwegian", 0x00406, 1252),
    (6, "Yakut", 0x00485, 1251),
    (7, "Greek", 0x00408, 1253),
    (8, "Latin1_General", 0x00409, 1252),
    (9, "Traditional_Spanish", 0x0040A, 1252),
    (10, "Finnish_Swedish", 0x0040B, 1252),
    (11, "French", 0x0040C, 1252),
    (12, "Hebrew", 0x0040D, 1255),
    (13, "Hungarian", 0x0040E, 1250),
    (14, "Icelandic", 0x0040F, 1252),
    (15, "Corsican", 0x00483, 1252),
    (16, "Japanese", 0x00411, 932),
    (17, "Korean_Wansung", 0x00412, 949),
    (18, "Maori", 0x00481, 0),
    (19, "Polish", 0x00415, 1250),
    (20, "Romanian", 0x00418, 1250),
    (21, "Cyrillic_General", 0x00419, 1251),
    (22, "Croatian", 0x0041A, 1250),
    (23, "Slovak", 0x0041B, 1250),
    (24, "Albanian", 0x0041C, 1250),
    (25, "Thai", 0x0041E, 874),
    (26, "Turkish", 0x0041F, 1254),
    (27, "Ukrainian", 0x00422, 1251),
    (28, "Slovenian", 0x00424, 1250),
    (29, "Estonian", 0x00425, 1257),
    (30, "Latvian", 0x00426, 1257),
    (31, "Lithuanian", 0x00427, 1257),
    (32, "Vietnamese", 0x0042A, 1258),
    (36, "Chinese_PRC", 0x00804, 936),
    (37, "Uighur", 0x00480, 1256),
    (38, "Breton", 0x0047E, 1252),
    (40, "Modern_Spanish", 0x00C0A, 1252),
    (41, "German_PhoneBook", 0x10407, 1252),
    (42, "Hungarian_Technical", 0x1040E, 1250),
    (43, "Japanese_Unicode", 0x10411, 932),
    (45, "Georgian_Modern_Sort", 0x10437, 1252),
    (46, "Chinese_PRC_Stroke", 0x20804, 936),
    (47, "Chinese_Taiwan_Bopomofo", 0x30404, 950),
    (48, "Japanese", 0x00411, 932),
    (49, "Chinese_PRC", 0x00804, 936),
    (50, "Chinese_PRC_Stroke", 0x20804, 936),
    (51, "Chinese_Taiwan_Bopomofo", 0x30404, 950),
    (52, "Chinese_Taiwan_Stroke", 0x00404, 950),
    (53, "Indic_General", 0x00439, 0),
    (55, "Kazakh", 0x0043F, 1251),
    (56, "Uzbek_Latin", 0x00443, 1254),
    (57, "Tatar", 0x00444, 1251),
    (58, "Macedonian_FYROM", 0x0042F, 1251),
    (59, "Syriac", 0x0045A, 0),
    (60, "Divehi", 0x00465, 0),
    (62, "Chinese_Hong_Kong_Stroke", 0x00C04, 950),
    (63, "Mohawk", 0x0047C, 1252),
    (64, "Korean", 0x00412, 949),
    (65, "Chinese_Traditional_Stroke_Count", 0x00404, 950),
    (66, "Chinese_Traditional_Bopomofo", 0x30404, 950),
    (67, "Chinese_Simplified_Pinyin", 0x00804, 936),
    (68, "Chinese_Simplified_Stroke_Order", 0x20804, 936),
    (69, "Chinese_Traditional_Pinyin", 0x01404, 950),
    (70, "Chinese_Traditional_Stroke_Order", 0x21404, 950),
    (71, "Danish_Greenlandic", 0x00406, 1252),
    (72, "Japanese_XJIS", 0x00411, 932),
    (73, "Japanese_Bushu_Kakusu", 0x40411, 932),
    (74, "Norwegian", 0x00414, 1252),
    (75, "Romansh", 0x00417, 1252),
    (76, "Serbian_Latin", 0x0081A, 1250),
    (77, "Serbian_Cyrillic", 0x00C1A, 1251),
    (78, "Bosnian_Latin", 0x0141A, 1250),
    (79, "Bosnian_Cyrillic", 0x0201A, 1251),
    (80, "Urdu", 0x00420, 1256),
    (81, "Persian", 0x00429, 1256),
    (82, "Mapudungan", 0x0047A, 1252),
    (83, "Upper_Sorbian", 0x0042E, 1252),
    (84, "Bashkir", 0x0046D, 1251),
    (85, "Maltese", 0x0043A, 0),
    (86, "Sami_Norway", 0x0043B, 1252),
    (87, "Sami_Sweden_Finland", 0x0083B, 1252),
    (88, "Turkmen", 0x00442, 1250),
    (89, "Bengali", 0x00445, 0),
    (90, "Assamese", 0x0044D, 0),
    (91, "Pashto", 0x00463, 0),
    (92, "Tibetan", 0x00451, 0),
    (93, "Welsh", 0x00452, 1252),
    (94, "Khmer", 0x00453, 0),
    (95, "Lao", 0x00454, 0),
    (96, "Frisian", 0x00462, 1252),
    (97, "Tamazight", 0x0085F, 1252),
    (98, "Nepali", 0x00461, 0),
    (99, "Azeri_Latin", 0x0042C, 1254),
    (100, "Azeri_Cyrillic", 0x0082C, 1251),
];

/// SQL sort orders by the sort id in bits 24–31 of a collation id: (sort id, name, code
/// page). Names in lower case are SQL Server 2000 sort orders that have no `SQL_*`
/// collation name of their own.
///
/// Source: microsoft/mssql-jdbc `SQLCollation.java` enum `SortOrder` (taken there from
/// SQL Server's `sqlscol.cpp`), plus sort ids 218 and 219 (`SQL_EBCDIC277_2_CP1_CS_AS`,
/// `SQL_EBCDIC1141_CP1_CS_AS`) from the `sys.fn_helpcollations()` dump in OrcaSql.
pub const SORT_ORDERS: &[(u8, &str, u16)] = &[
    (30, "SQL_Latin1_General_CP437_BIN", 437),
    (31, "SQL_Latin1_General_CP437_CS_AS", 437),
    (32, "SQL_Latin1_General_CP437_CI_AS", 437),
    (33, "SQL_Latin1_General_Pref_CP437_CI_AS", 437),
    (34, "SQL_Latin1_General_CP437_CI_AI", 437),
    (35, "SQL_Latin1_General_CP437_BIN2", 437),
    (40, "SQL_Latin1_General_CP850_BIN", 850),
    (41, "SQL_Latin1_General_CP850_CS_AS", 850),
    (42, "SQL_Latin1_General_CP850_CI_AS", 850),
    (43, "SQL_Latin1_General_Pref_CP850_CI_AS", 850),
    (44, "SQL_Latin1_General_CP850_CI_AI", 850),
    (45, "SQL_Latin1_General_CP850_BIN2", 850),
    (49, "SQL_1xCompat_CP850_CI_AS", 850),
    (50, "bin_iso_1", 1252),
    (51, "SQL_Latin1_General_CP1_CS_AS", 1252),
    (52, "SQL_Latin1_General_CP1_CI_AS", 1252),
    (53, "SQL_Latin1_General_Pref_CP1_CI_AS", 1252),
    (54, "SQL_Latin1_General_CP1_CI_AI", 1252),
    (55, "SQL_AltDiction_CP850_CS_AS", 850),
    (56, "SQL_AltDiction_Pref_CP850_CI_AS", 850),
    (57, "SQL_AltDiction_CP850_CI_AI", 850),
    (58, "SQL_Scandinavian_Pref_CP850_CI_AS", 850),
    (59, "SQL_Scandinavian_CP850_CS_AS", 850),
    (60, "SQL_Scandinavian_CP850_CI_AS", 850),
    (61, "SQL_AltDiction_CP850_CI_AS", 850),
    (71, "dictionary_1252", 1252),
    (72, "nocase_1252", 1252),
    (73, "dnk_nor_dictionary", 1252),
    (74, "fin_swe_dictionary", 1252),
    (75, "isl_dictionary", 1252),
    (80, "bin_cp1250", 1250),
    (81, "SQL_Latin1_General_CP1250_CS_AS", 1250),
    (82, "SQL_Latin1_General_CP1250_CI_AS", 1250),
    (83, "SQL_Czech_CP1250_CS_AS", 1250),
    (84, "SQL_Czech_CP1250_CI_AS", 1250),
    (85, "SQL_Hungarian_CP1250_CS_AS", 1250),
    (86, "SQL_Hungarian_CP1250_CI_AS", 1250),
    (87, "SQL_Polish_CP1250_CS_AS", 1250),
    (88, "SQL_Polish_CP1250_CI_AS", 1250),
    (89, "SQL_Romanian_CP1250_CS_AS", 1250),
    (90, "SQL_Romanian_CP1250_CI_AS", 1250),
    (91, "SQL_Croatian_CP1250_CS_AS", 1250),
    (92, "SQL_Croatian_CP1250_CI_AS", 1250),
    (93, "SQL_Slovak_CP1250_CS_AS", 1250),
    (94, "SQL_Slovak_CP1250_CI_AS", 1250),
    (95, "SQL_Slovenian_CP1250_CS_AS", 1250),
    (96, "SQL_Slovenian_CP1250_CI_AS", 1250),
    (97, "polish_cs", 1250),
    (98, "polish_ci", 1250),
    (104, "bin_cp1251", 1251),
    (105, "SQL_Latin1_General_CP1251_CS_AS", 1251),
    (106, "SQL_Latin1_General_CP1251_CI_AS", 1251),
    (107, "SQL_Ukrainian_CP1251_CS_AS", 1251),
    (108, "SQL_Ukrainian_CP1251_CI_AS", 1251),
    (112, "bin_cp1253", 1253),
    (113, "SQL_Latin1_General_CP1253_CS_AS", 1253),
    (114, "SQL_Latin1_General_CP1253_CI_AS", 1253),
    (120, "SQL_MixDiction_CP1253_CS_AS", 1253),
    (121, "SQL_AltDiction_CP1253_CS_AS", 1253),
    (122, "SQL_AltDiction2_CP1253_CS_AS", 1253),
    (124, "SQL_Latin1_General_CP1253_CI_AI", 1253),
    (128, "bin_cp1254", 1254),
    (129, "SQL_Latin1_General_CP1254_CS_AS", 1254),
    (130, "SQL_Latin1_General_CP1254_CI_AS", 1254),
    (136, "bin_cp1255", 1255),
    (137, "SQL_Latin1_General_CP1255_CS_AS", 1255),
    (138, "SQL_Latin1_General_CP1255_CI_AS", 1255),
    (144, "bin_cp1256", 1256),
    (145, "SQL_Latin1_General_CP1256_CS_AS", 1256),
    (146, "SQL_Latin1_General_CP1256_CI_AS", 1256),
    (152, "bin_cp1257", 1257),
    (153, "SQL_Latin1_General_CP1257_CS_AS", 1257),
    (154, "SQL_Latin1_General_CP1257_CI_AS", 1257),
    (155, "SQL_Estonian_CP1257_CS_AS", 1257),
    (156, "SQL_Estonian_CP1257_CI_AS", 1257),
    (157, "SQL_Latvian_CP1257_CS_AS", 1257),
    (158, "SQL_Latvian_CP1257_CI_AS", 1257),
    (159, "SQL_Lithuanian_CP1257_CS_AS", 1257),
    (160, "SQL_Lithuanian_CP1257_CI_AS", 1257),
    (183, "SQL_Danish_Pref_CP1_CI_AS", 1252),
    (184, "SQL_SwedishPhone_Pref_CP1_CI_AS", 1252),
    (185, "SQL_SwedishStd_Pref_CP1_CI_AS", 1252),
    (186, "SQL_Icelandic_Pref_CP1_CI_AS", 1252),
    (192, "bin_cp932", 932),
    (193, "nls_cp932", 932),
    (194, "bin_cp949", 949),
    (195, "nls_cp949", 949),
    (196, "bin_cp950", 950),
    (197, "nls_cp950", 950),
    (198, "bin_cp936", 936),
    (199, "nls_cp936", 936),
    (200, "nls_cp932_cs", 932),
    (201, "nls_cp949_cs", 949),
    (202, "nls_cp950_cs", 950),
    (203, "nls_cp936_cs", 936),
    (204, "bin_cp874", 874),
    (205, "nls_cp874", 874),
    (206, "nls_cp874_cs", 874),
    (210, "SQL_EBCDIC037_CP1_CS_AS", 1252),
    (211, "SQL_EBCDIC273_CP1_CS_AS", 1252),
    (212, "SQL_EBCDIC277_CP1_CS_AS", 1252),
    (213, "SQL_EBCDIC278_CP1_CS_AS", 1252),
    (214, "SQL_EBCDIC280_CP1_CS_AS", 1252),
    (215, "SQL_EBCDIC284_CP1_CS_AS", 1252),
    (216, "SQL_EBCDIC285_CP1_CS_AS", 1252),
    (217, "SQL_EBCDIC297_CP1_CS_AS", 1252),
    (218, "SQL_EBCDIC277_2_CP1_CS_AS", 1252),
    (219, "SQL_EBCDIC1141_CP1_CS_AS", 1252),
];

const BIT_SC: u32 = 1 << 8;
const BIT_IGNORE_VS: u32 = 1 << 9;
const BIT_UTF8: u32 = 1 << 10;
const BIT_BIN2: u32 = 1 << 11;
const BIT_IGNORE_CASE: u32 = 1 << 12;
const BIT_IGNORE_ACCENT: u32 = 1 << 13;
const BIT_IGNORE_KANA: u32 = 1 << 14;
const BIT_IGNORE_WIDTH: u32 = 1 << 15;
const BIT_BIN: u32 = 1 << 16;
const VERSION_SHIFT: u32 = 17;
/// Bits of the Windows part that no known collation sets (20–23).
const UNKNOWN_BITS: u32 = 0x00F0_0000;

/// A collation id taken apart (see the module documentation for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollationParts {
    /// The raw id.
    pub id: u32,
    /// SQL sort order id (bits 24–31), 0 for a Windows collation.
    pub sort_id: u8,
    /// Windows collation family index (bits 0–7), in SQL Server's numbering of the
    /// families (`Latin1_General`, `Japanese_XJIS`, …).
    pub family: u8,
    /// Collation version: 0 = 80, 1 = 90, 2 = 100, 3 = 140.
    pub version: u8,
    /// Windows LCID of the family.
    pub lcid: u32,
    /// `_BIN` (byte order).
    pub binary: bool,
    /// `_BIN2` (code point order).
    pub binary2: bool,
    /// Case-sensitive (`_CS`); false for binary collations, which are neither.
    pub case_sensitive: bool,
    /// Accent-sensitive (`_AS`).
    pub accent_sensitive: bool,
    /// Kana-sensitive (`_KS`).
    pub kana_sensitive: bool,
    /// Width-sensitive (`_WS`).
    pub width_sensitive: bool,
    /// Supplementary-character aware (`_SC`, or any version-140 collation).
    pub supplementary: bool,
    /// Variation-selector sensitive (`_VSS`, version 140 only).
    pub variation_selector_sensitive: bool,
    /// `_UTF8`: `char` data is UTF-8 (bit 10, inferred; see the module documentation).
    pub utf8: bool,
}

impl CollationParts {
    /// Takes `id` apart, checking that every bit is one SQL Server uses.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Catalog`] for an unknown family, a version above 3, reserved
    /// bits set, contradictory flags, or `_UTF8` where SQL Server does not allow it.
    pub fn parse(id: u32) -> Result<Self> {
        let unknown = |why: &str| Error::catalog(format!("unknown collation id {id} (0x{id:08X}): {why}"));
        if id & UNKNOWN_BITS != 0 {
            return Err(unknown(&format!("reserved bits 0x{:08X} set", id & UNKNOWN_BITS)));
        }
        let family = (id & 0xFF) as u8;
        let &(_, _, lcid, _) =
            family_entry(family).ok_or_else(|| unknown(&format!("no Windows collation family {family}")))?;
        let version = ((id >> VERSION_SHIFT) & 0x7) as u8;
        if version > 3 {
            return Err(unknown(&format!("collation version {version} (known: 0 to 3)")));
        }
        let binary = id & BIT_BIN != 0;
        let binary2 = id & BIT_BIN2 != 0;
        let sensitivity = id & (BIT_IGNORE_CASE | BIT_IGNORE_ACCENT | BIT_IGNORE_KANA | BIT_IGNORE_WIDTH);
        if (binary || binary2) && (sensitivity != 0 || (binary && binary2)) {
            return Err(unknown("binary collation with comparison flags"));
        }
        let sc_bits = id & (BIT_SC | BIT_IGNORE_VS);
        let supplementary = sc_bits & BIT_SC != 0 || version == 3;
        if sc_bits & BIT_IGNORE_VS != 0 && (version != 3 || sc_bits & BIT_SC == 0) {
            return Err(unknown("variation-selector bit outside a version-140 collation"));
        }
        let utf8 = id & BIT_UTF8 != 0;
        // SQL Server offers `_UTF8` only on supplementary-aware collations (`_SC` or
        // version 140) and on the version-100+ `_BIN2` ones (Microsoft docs, "Collation and
        // Unicode support", UTF-8 support).
        if utf8 && !(sc_bits & BIT_SC != 0 || version == 3 || (binary2 && version >= 2)) {
            return Err(unknown("bit 10 (_UTF8) set on a collation that cannot be _UTF8"));
        }
        let sort_id = (id >> 24) as u8;
        if sort_id != 0 && sort_order_entry(sort_id).is_none() {
            return Err(unknown(&format!("no SQL sort order {sort_id}")));
        }
        let not_binary = !(binary || binary2);
        Ok(CollationParts {
            id,
            sort_id,
            family,
            version,
            lcid,
            binary,
            binary2,
            case_sensitive: not_binary && id & BIT_IGNORE_CASE == 0,
            accent_sensitive: not_binary && id & BIT_IGNORE_ACCENT == 0,
            kana_sensitive: not_binary && id & BIT_IGNORE_KANA == 0,
            width_sensitive: not_binary && id & BIT_IGNORE_WIDTH == 0,
            supplementary,
            variation_selector_sensitive: version == 3 && not_binary && sc_bits == BIT_SC,
            utf8,
        })
    }

    /// The collation's name as `sys.fn_helpcollations()` lists it (`Latin1_General_CI_AS`,
    /// `Japanese_XJIS_140_CI_AI_VSS`, `SQL_Latin1_General_CP1_CI_AS`,
    /// `Latin1_General_100_CI_AS_SC_UTF8`). SQL Server 2000 sort orders without a `SQL_*`
    /// name give their sort order name (`bin_cp1250`).
    pub fn name(&self) -> String {
        if self.sort_id != 0 {
            // The `_BIN2` variants of the CP437/CP850 sort orders are stored with the
            // `_BIN` sort id (30, 40) plus the BIN2 flag (fn_helpcollations dump:
            // `SQL_Latin1_General_CP437_BIN2` = 0x1E000808).
            let sort_id = match (self.sort_id, self.binary2) {
                (30, true) => 35,
                (40, true) => 45,
                (s, _) => s,
            };
            return sort_order_entry(sort_id).map(|(_, name, _)| name.to_string()).unwrap_or_default();
        }
        let base = family_entry(self.family).map(|(_, name, _, _)| *name).unwrap_or_default();
        let mut s = String::with_capacity(base.len() + 24);
        s.push_str(base);
        s.push_str(match self.version {
            1 => "_90",
            2 => "_100",
            3 => "_140",
            _ => "",
        });
        if self.binary {
            s.push_str("_BIN");
        } else if self.binary2 {
            s.push_str("_BIN2");
        } else {
            s.push_str(if self.case_sensitive { "_CS" } else { "_CI" });
            s.push_str(if self.accent_sensitive { "_AS" } else { "_AI" });
            if self.kana_sensitive {
                s.push_str("_KS");
            }
            if self.width_sensitive {
                s.push_str("_WS");
            }
            if self.version == 3 {
                if self.variation_selector_sensitive {
                    s.push_str("_VSS");
                }
            } else if self.supplementary {
                s.push_str("_SC");
            }
        }
        if self.utf8 {
            s.push_str("_UTF8");
        }
        s
    }

    /// The code page of `char`/`varchar`/`text` data: 65001 for `_UTF8`, the sort order's
    /// for `SQL_*` collations, the family's otherwise (0 = Unicode-only).
    pub fn code_page(&self) -> u16 {
        if self.utf8 {
            return CP_UTF8;
        }
        if self.sort_id != 0 {
            return sort_order_entry(self.sort_id).map(|(_, _, cp)| *cp).unwrap_or(0);
        }
        family_entry(self.family).map(|(_, _, _, cp)| *cp).unwrap_or(0)
    }
}

fn family_entry(family: u8) -> Option<&'static (u8, &'static str, u32, u16)> {
    FAMILIES.iter().find(|(i, ..)| *i == family)
}

fn sort_order_entry(sort_id: u8) -> Option<&'static (u8, &'static str, u16)> {
    SORT_ORDERS.iter().find(|(i, ..)| *i == sort_id)
}

impl Collation {
    /// The collation of stored id `id` (`syscolpars.collationid`, boot page
    /// `dbi_collation`, `COLLATIONPROPERTY(name, 'CollationID')`), named as
    /// `sys.fn_helpcollations()` does, with the code page of its 8-bit data.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Catalog`] for 0 (no collation: the caller substitutes the
    /// database default) and for an id that no SQL Server collation has (see
    /// [`crate::CollationParts::parse`]): a code page is never guessed.
    pub fn from_id(id: u32) -> Result<Collation> {
        lookup(id)
    }
}

/// The collation of stored id `id` (`syscolpars.collationid`, `dbi_collation`), with its
/// name and code page.
///
/// # Errors
/// [`crate::ErrorKind::Catalog`] for 0 (no collation: the caller substitutes the
/// database default) and for any id this module cannot account for bit by bit: a code
/// page is never guessed.
pub fn lookup(id: u32) -> Result<Collation> {
    if id == 0 {
        return Err(Error::catalog("collation id 0 (no collation; use the database default collation)"));
    }
    let parts = CollationParts::parse(id)?;
    Ok(Collation { id, name: Some(parts.name()), code_page: parts.code_page() })
}

/// Code page 437 (MS-DOS United States), bytes 0x80–0xFF. Bytes 0x00–0x7F are ASCII.
/// Source: Unicode Consortium mapping file `MAPPINGS/VENDORS/MICSFT/PC/CP437.TXT`.
const CP437_HIGH: [u16; 128] = [
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, //
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5, //
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, //
    0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, //
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, //
    0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, //
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, //
    0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510, //
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F, //
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, //
    0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B, //
    0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580, //
    0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, //
    0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229, //
    0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248, //
    0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0, //
];

/// Code page 850 (MS-DOS Latin 1), bytes 0x80–0xFF. Bytes 0x00–0x7F are ASCII.
/// Source: Unicode Consortium mapping file `MAPPINGS/VENDORS/MICSFT/PC/CP850.TXT`.
const CP850_HIGH: [u16; 128] = [
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, //
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5, //
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, //
    0x00FF, 0x00D6, 0x00DC, 0x00F8, 0x00A3, 0x00D8, 0x00D7, 0x0192, //
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, //
    0x00BF, 0x00AE, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, //
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x00C1, 0x00C2, 0x00C0, //
    0x00A9, 0x2563, 0x2551, 0x2557, 0x255D, 0x00A2, 0x00A5, 0x2510, //
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x00E3, 0x00C3, //
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x00A4, //
    0x00F0, 0x00D0, 0x00CA, 0x00CB, 0x00C8, 0x0131, 0x00CD, 0x00CE, //
    0x00CF, 0x2518, 0x250C, 0x2588, 0x2584, 0x00A6, 0x00CC, 0x2580, //
    0x00D3, 0x00DF, 0x00D4, 0x00D2, 0x00F5, 0x00D5, 0x00B5, 0x00FE, //
    0x00DE, 0x00DA, 0x00DB, 0x00D9, 0x00FD, 0x00DD, 0x00AF, 0x00B4, //
    0x00AD, 0x00B1, 0x2017, 0x00BE, 0x00B6, 0x00A7, 0x00F7, 0x00B8, //
    0x00B0, 0x00A8, 0x00B7, 0x00B9, 0x00B3, 0x00B2, 0x25A0, 0x00A0, //
];

/// How the bytes of one code page are decoded.
enum Decoder {
    /// A single-byte code page of our own table (high half; the low half is ASCII).
    Table(&'static [u16; 128]),
    /// A code page `encoding_rs` implements (the WHATWG encodings, which are the Windows
    /// code pages: windows-874/125x, Shift_JIS = 932, GBK = 936, EUC-KR = 949 (UHC),
    /// Big5 = 950, UTF-8 = 65001).
    Whatwg(&'static Encoding),
}

fn decoder_for(code_page: u16) -> Option<Decoder> {
    use encoding_rs as e;
    Some(match code_page {
        437 => Decoder::Table(&CP437_HIGH),
        850 => Decoder::Table(&CP850_HIGH),
        874 => Decoder::Whatwg(e::WINDOWS_874),
        1250 => Decoder::Whatwg(e::WINDOWS_1250),
        1251 => Decoder::Whatwg(e::WINDOWS_1251),
        1252 => Decoder::Whatwg(e::WINDOWS_1252),
        1253 => Decoder::Whatwg(e::WINDOWS_1253),
        1254 => Decoder::Whatwg(e::WINDOWS_1254),
        1255 => Decoder::Whatwg(e::WINDOWS_1255),
        1256 => Decoder::Whatwg(e::WINDOWS_1256),
        1257 => Decoder::Whatwg(e::WINDOWS_1257),
        1258 => Decoder::Whatwg(e::WINDOWS_1258),
        932 => Decoder::Whatwg(e::SHIFT_JIS),
        936 => Decoder::Whatwg(e::GBK),
        949 => Decoder::Whatwg(e::EUC_KR),
        950 => Decoder::Whatwg(e::BIG5),
        CP_UTF8 => Decoder::Whatwg(e::UTF_8),
        _ => return None,
    })
}

/// Decodes 8-bit character data stored under code page `code_page` to a `String`.
///
/// Every byte 0x00–0x7F is ASCII in all of these code pages (even as a DBCS trail byte it
/// is only ever consumed by a preceding lead byte ≥ 0x81), so all-ASCII input is copied
/// without table look-ups. Bytes a code page leaves undefined, and malformed multi-byte
/// sequences, become U+FFFD and are counted in [`DecodeStats::replaced_codepage`].
///
/// Mapping notes: the WHATWG tables `encoding_rs` implements are Microsoft's for the
/// single-byte code pages (undefined bytes of windows-1252 decode to the C1 controls
/// U+0081…, as Windows does); for 932/936/949/950 they are supersets of Microsoft's
/// (Big5 includes HKSCS; GBK decoding is GB18030), which only matters for bytes SQL Server
/// would not have stored. Code page 1258 text decodes to base letters plus combining
/// marks, as Windows does (no normalisation).
///
/// # Errors
/// [`crate::ErrorKind::Unsupported`] for a code page with no decoder here (0, the
/// Unicode-only collations, cannot hold 8-bit data).
pub fn decode_text(code_page: u16, bytes: &[u8], stats: &mut DecodeStats) -> Result<String> {
    let decoder = decoder_for(code_page)
        .ok_or_else(|| Error::unsupported(format!("no decoder for code page {code_page} of 8-bit character data")))?;
    if bytes.is_ascii() {
        // ASCII is valid UTF-8: no table look-up needed.
        return Ok(String::from_utf8_lossy(bytes).into_owned());
    }
    Ok(match decoder {
        Decoder::Table(high) => {
            let mut s = String::with_capacity(bytes.len() + bytes.len() / 2);
            for &b in bytes {
                if b < 0x80 {
                    s.push(b as char);
                } else {
                    let u = high.get(usize::from(b - 0x80)).copied().unwrap_or(0xFFFD);
                    s.push(char::from_u32(u32::from(u)).unwrap_or('\u{FFFD}'));
                }
            }
            s
        }
        Decoder::Whatwg(encoding) => decode_whatwg(encoding, bytes, stats),
    })
}

/// Decodes with `encoding_rs`, replacing each malformed sequence by U+FFFD and counting
/// it (the plain `decode` would replace silently).
fn decode_whatwg(encoding: &'static Encoding, bytes: &[u8], stats: &mut DecodeStats) -> String {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity =
        decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(bytes.len().saturating_mul(3));
    let mut out = String::with_capacity(capacity);
    let mut src = bytes;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(src, &mut out, true);
        src = src.get(read..).unwrap_or_default();
        match result {
            DecoderResult::InputEmpty => return out,
            DecoderResult::OutputFull => out.reserve(src.len().saturating_mul(3).max(16)),
            DecoderResult::Malformed(_, _) => {
                out.push('\u{FFFD}');
                stats.replaced_codepage += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (id, name) pairs from the `sys.fn_helpcollations()` / `COLLATIONPROPERTY(name,
    /// 'CollationID')` dump in ycherkes/OrcaSql `Collations.cs` (SQL Server 2017).
    const REFERENCE: &[(u32, &str)] = &[
        (872468488, "SQL_Latin1_General_CP1_CI_AS"),
        (53256, "Latin1_General_CI_AS"),
        (65560, "Albanian_BIN"),
        (2072, "Albanian_BIN2"),
        (24, "Albanian_CS_AS_KS_WS"),
        (53272, "Albanian_CI_AS"),
        (28696, "Albanian_CI_AI_WS"),
        (327704, "Albanian_100_BIN"),
        (264216, "Albanian_100_BIN2"),
        (315672, "Albanian_100_CI_AS_SC"),
        (262424, "Albanian_100_CS_AS_KS_WS_SC"),
        (1, "Arabic_CS_AS_KS_WS"),
        (53249, "Arabic_CI_AS"),
        (0x2d030, "Japanese_90_CI_AS"),
        (0xd010, "Japanese_CI_AS"),
        (0x6d348, "Japanese_XJIS_140_CI_AS"),
        (0x6f149, "Japanese_Bushu_Kakusu_140_CI_AI_VSS"),
        (0x70049, "Japanese_Bushu_Kakusu_140_BIN"),
        (0x60848, "Japanese_XJIS_140_BIN2"),
        (0x4d040, "Korean_100_CI_AS"),
        (0xd011, "Korean_Wansung_CI_AS"),
        (0x2d031, "Chinese_PRC_90_CI_AS"),
        (0x3300c008, "SQL_Latin1_General_CP1_CS_AS"),
        (0x3600f008, "SQL_Latin1_General_CP1_CI_AI"),
        (0x1e010008, "SQL_Latin1_General_CP437_BIN"),
        (0x1e000808, "SQL_Latin1_General_CP437_BIN2"),
        (0x28000808, "SQL_Latin1_General_CP850_BIN2"),
        (0x2a00d008, "SQL_Latin1_General_CP850_CI_AS"),
        (0x5200d008, "SQL_Latin1_General_CP1250_CI_AS"),
        (0x6a00d008, "SQL_Latin1_General_CP1251_CI_AS"),
        (0x8200d01a, "SQL_Latin1_General_CP1254_CI_AS"),
        (0xdb00c029, "SQL_EBCDIC1141_CP1_CS_AS"),
        (0x9c00d01d, "SQL_Estonian_CP1257_CI_AS"),
    ];

    #[test]
    fn reference_ids_name_back() {
        for &(id, name) in REFERENCE {
            let c = lookup(id).unwrap_or_else(|e| panic!("{id:#x}: {e}"));
            assert_eq!(c.name.as_deref(), Some(name), "id {id:#x}");
            assert_eq!(c.id, id);
        }
    }

    #[test]
    fn code_pages_of_the_families_the_brief_names() {
        // Windows part 0xD0xx = `<family>_CI_AS`; ids probed from SQL Server 2022 by
        // mssqlbak (tests/test_unicode_decode.py) and the fixtures of this project.
        let cases: &[(u32, &str, u16)] = &[
            (0xD008, "Latin1_General_CI_AS", 1252),
            (0xD020, "Vietnamese_CI_AS", 1258),
            (0xD00B, "French_CI_AS", 1252),
            (0xD028, "Modern_Spanish_CI_AS", 1252),
            (0xD024, "Chinese_PRC_CI_AS", 936),
            (0xD010, "Japanese_CI_AS", 932),
            (0xD011, "Korean_Wansung_CI_AS", 949),
            (0xD003, "Chinese_Taiwan_Stroke_CI_AS", 950),
            (0xD019, "Thai_CI_AS", 874),
            (0xD015, "Cyrillic_General_CI_AS", 1251),
            (0xD013, "Polish_CI_AS", 1250),
            (0xD004, "Czech_CI_AS", 1250),
            (0xD00D, "Hungarian_CI_AS", 1250),
            (0xD007, "Greek_CI_AS", 1253),
            (0xD01A, "Turkish_CI_AS", 1254),
            (0xD00C, "Hebrew_CI_AS", 1255),
            (0xD001, "Arabic_CI_AS", 1256),
            (0xD01F, "Lithuanian_CI_AS", 1257),
            (0x3400D008, "SQL_Latin1_General_CP1_CI_AS", 1252),
            (0x2000D008, "SQL_Latin1_General_CP437_CI_AS", 437),
            (0x2A00D008, "SQL_Latin1_General_CP850_CI_AS", 850),
            (0x5200D008, "SQL_Latin1_General_CP1250_CI_AS", 1250),
        ];
        for &(id, name, cp) in cases {
            let c = lookup(id).unwrap_or_else(|e| panic!("{id:#x}: {e}"));
            assert_eq!(c.name.as_deref(), Some(name), "{id:#x}");
            assert_eq!(c.code_page, cp, "{name}");
        }
    }

    #[test]
    fn unicode_only_collation_has_no_code_page() {
        // Indic_General_90_CI_AS (fn_helpcollations dump: 0x2d035).
        let c = lookup(0x2d035).unwrap();
        assert_eq!(c.name.as_deref(), Some("Indic_General_90_CI_AS"));
        assert_eq!(c.code_page, 0);
        assert!(decode_text(0, b"x", &mut DecodeStats::default()).is_err());
    }

    #[test]
    fn utf8_collations_by_the_inferred_bit() {
        // Latin1_General_100_CI_AS_SC (0x4D108) plus bit 10.
        let c = lookup(0x4D108 | BIT_UTF8).unwrap();
        assert_eq!(c.name.as_deref(), Some("Latin1_General_100_CI_AS_SC_UTF8"));
        assert_eq!(c.code_page, CP_UTF8);
        // Latin1_General_100_BIN2 (0x40808) plus bit 10.
        assert_eq!(lookup(0x40808 | BIT_UTF8).unwrap().name.as_deref(), Some("Latin1_General_100_BIN2_UTF8"));
        // Latin1_General_CI_AS cannot be _UTF8: the bit is then unaccounted for.
        assert!(lookup(0xD008 | BIT_UTF8).is_err());
    }

    #[test]
    fn unknown_ids_are_catalog_errors() {
        for id in [0u32, 33, 44, 0xFF, 0x10_D008, 0x0100_D008, 0x1_1008, 0x0008 | (4 << VERSION_SHIFT)] {
            let e = lookup(id).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Catalog, "{id:#x}");
        }
    }

    #[test]
    fn parts_expose_sensitivities() {
        let p = CollationParts::parse(0x3400D008).unwrap();
        assert_eq!((p.sort_id, p.family, p.version, p.lcid), (52, 8, 0, 0x409));
        assert!(!p.case_sensitive && p.accent_sensitive && !p.kana_sensitive && !p.width_sensitive);
        let p = CollationParts::parse(0x40808).unwrap();
        assert!(p.binary2 && !p.case_sensitive && !p.accent_sensitive);
    }

    #[test]
    fn decode_cp1252_and_friends() {
        let mut st = DecodeStats::default();
        // "Québec, Gaspé" as stored under cp1252 (é = 0xE9).
        assert_eq!(decode_text(1252, b"Qu\xe9bec, Gasp\xe9", &mut st).unwrap(), "Québec, Gaspé");
        // cp1252 0x80 is the euro sign, 0x81 (undefined) decodes to U+0081 as on Windows.
        assert_eq!(decode_text(1252, b"\x80\x81", &mut st).unwrap(), "\u{20AC}\u{81}");
        // cp1251 0xC0 = А (U+0410); cp1253 0xC1 = Α (U+0391); cp1258 0xD2 = U+0309 (combining hook above).
        assert_eq!(decode_text(1251, b"\xc0", &mut st).unwrap(), "\u{410}");
        assert_eq!(decode_text(1253, b"\xc1", &mut st).unwrap(), "\u{391}");
        assert_eq!(decode_text(1258, b"a\xd2", &mut st).unwrap(), "a\u{309}");
        // cp874 0xA1 = ก (U+0E01).
        assert_eq!(decode_text(874, b"\xa1", &mut st).unwrap(), "\u{E01}");
        // cp932 0x82 0xA0 = あ (U+3042); cp936 0xC4 0xE3 = 你; cp949 0xB0 0xA1 = 가; cp950 0xA4 0x40 = 一.
        assert_eq!(decode_text(932, b"\x82\xa0", &mut st).unwrap(), "\u{3042}");
        assert_eq!(decode_text(936, b"\xc4\xe3", &mut st).unwrap(), "\u{4F60}");
        assert_eq!(decode_text(949, b"\xb0\xa1", &mut st).unwrap(), "\u{AC00}");
        assert_eq!(decode_text(950, b"\xa4\x40", &mut st).unwrap(), "\u{4E00}");
        assert_eq!(st.replaced_codepage, 0);
    }

    #[test]
    fn decode_dos_code_pages() {
        let mut st = DecodeStats::default();
        // CP437: 0x80 Ç, 0x9E ₧, 0xE1 ß, 0xFF NBSP; CP850: 0x9B ø, 0xD5 ı, 0xF2 ‗.
        assert_eq!(decode_text(437, b"a\x80\x9e\xe1\xff", &mut st).unwrap(), "aÇ\u{20A7}ß\u{A0}");
        assert_eq!(decode_text(850, b"\x9b\xd5\xf2", &mut st).unwrap(), "ø\u{131}\u{2017}");
    }

    #[test]
    fn malformed_sequences_are_counted() {
        let mut st = DecodeStats::default();
        // A lone Shift_JIS lead byte at the end; invalid UTF-8.
        assert_eq!(decode_text(932, b"a\x82", &mut st).unwrap(), "a\u{FFFD}");
        assert_eq!(decode_text(CP_UTF8, b"\xff\xc3\xa9", &mut st).unwrap(), "\u{FFFD}é");
        assert_eq!(st.replaced_codepage, 2);
    }
}
