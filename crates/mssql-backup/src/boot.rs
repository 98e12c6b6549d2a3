//! The boot page (page 9 of file 1, type 13): the database's own identity and the entry
//! point to the system catalog.
//!
//! Field offsets are from the start of the boot record's fixed data (record offset 4, page
//! offset 100), per OrcaMDF's `BootPage` and checked on the fixtures (2005–2025):
//! `dbi_version` `i16` at 0, `dbi_createVersion` `i16` at 2, `dbi_status` `i32` at 32,
//! `dbi_dbname` `nchar(128)` at 48, `dbi_dbid` `i16` at 308, `dbi_collation` (`u32`, the
//! stored collation id of [`crate::collation`]) at 388 (record offset 392; 0x3400D008,
//! 0xD028, 0xD00B in the fixtures, matching their columns' collations), the first page of
//! `sysallocunits` (`dbi_firstSysIndexes`, 6-byte page pointer) at 512.

use crate::page::{Page, PageType};
use crate::record::Record;
use crate::types::PageId;
use crate::{Error, Result};

/// The boot page's address.
pub const BOOT_PAGE: PageId = PageId::new(1, 9);

/// What the boot page says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BootInfo {
    /// Internal database version (`dbi_version`): 611 = SQL Server 2005, 655 = 2008,
    /// 661 = 2008 R2, 706 = 2012, 782 = 2014, 852 = 2016, 869 = 2017, 904 = 2019,
    /// 957 = 2022, 998 = 2025.
    pub version: u16,
    /// Version the database was created with (`dbi_createVersion`; 539 = SQL Server 2000).
    pub create_version: u16,
    /// Database name (`dbi_dbname`).
    pub name: String,
    /// First page of `sysallocunits`.
    pub first_sysallocunits_page: PageId,
    /// Database default collation id (`dbi_collation`).
    pub collation_id: u32,
}

/// The SQL Server release that writes internal database version `version` (the boot
/// page's `dbi_version`, as `DATABASEPROPERTYEX(…, 'Version')` reports it): 611/612 for
/// 2005 … 998 for 2025 (Microsoft's table of database versions per release, and the
/// fixtures: MANIFEST.md gives each backup's build beside its version). `None` for a
/// version no release is known to write (a pre-release build, or a newer release).
pub fn release_of(version: u16) -> Option<&'static str> {
    Some(match version {
        611 | 612 => "SQL Server 2005",
        655 => "SQL Server 2008",
        660 | 661 => "SQL Server 2008 R2",
        706 => "SQL Server 2012",
        782 => "SQL Server 2014",
        852 => "SQL Server 2016",
        869 => "SQL Server 2017",
        895 | 904 => "SQL Server 2019",
        957 => "SQL Server 2022",
        998 => "SQL Server 2025",
        _ => return None,
    })
}

/// Decodes the boot record of `page`.
///
/// # Errors
/// [`crate::ErrorKind::Corrupt`] when the page is not a boot page or its record is short.
pub fn parse(page: &Page) -> Result<BootInfo> {
    if page.header().page_type != PageType::Boot {
        return Err(Error::corrupt("page 1:9 is not a boot page").on_page(page.id()));
    }
    let area = page.record_area(0)?.ok_or_else(|| Error::corrupt("boot page has no record").on_page(page.id()))?;
    let rec = Record::parse(area).map_err(|e| e.on_page(page.id()))?;
    let fixed = rec.fixed(4, 518).ok_or_else(|| Error::corrupt("boot record is too short").on_page(page.id()))?;
    let version = u16::from_le_bytes([fixed[0], fixed[1]]);
    let create_version = u16::from_le_bytes([fixed[2], fixed[3]]);
    let units: Vec<u16> = fixed[48..304].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    // The name is padded with 0x20 bytes (U+2020) or NULs after its last character.
    let name = String::from_utf16_lossy(&units);
    let name = name.trim_end_matches(['\u{2020}', '\u{0}', ' ']).to_string();
    let first = PageId::from_bytes(&fixed[512..518]).expect("6 bytes");
    let collation_id = u32::from_le_bytes(fixed[388..392].try_into().expect("4 bytes"));
    Ok(BootInfo { version, create_version, name, first_sysallocunits_page: first, collation_id })
}
