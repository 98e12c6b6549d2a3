//! Allocation structures: PFS, GAM and IAM pages.
//!
//! Offsets (per OrcaMDF's `PfsPage`, `ExtentAllocationMap` and `IamPage`, checked on the
//! fixtures: e.g. northwind-sql2008r2's GAM marks exactly the 55 extents its backup holds):
//! - PFS: page 1 of each file and every 8088th page after; one byte per page from page
//!   offset 100: bits 0–2 fullness, 0x08 ghost records, 0x10 IAM page, 0x20 mixed extent,
//!   0x40 allocated.
//! - GAM: page 2 and every 511232nd page after; a bitmap of 63904 extents at page offset
//!   194, bit clear = extent allocated.
//! - IAM: slot 0 is a 94-byte header record: start page of the GAM interval it maps at page
//!   offset 136, eight single-page slots (mixed-extent pages, `u32` page + `u16` file) at
//!   142; slot 1 is the extent bitmap at page offset 194, bit set = extent belongs to the
//!   allocation unit; IAM pages of one allocation unit are chained by `m_nextPage`.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::page::{PAGE_SIZE, PageType};
use crate::store::PageStore;
use crate::types::PageId;
use crate::{Error, Result};

/// Pages covered by one PFS page.
pub const PFS_INTERVAL: u32 = 8088;
/// Pages covered by one GAM page.
pub const GAM_INTERVAL: u32 = 511_232;
/// PFS byte: the page is allocated.
pub const PFS_ALLOCATED: u8 = 0x40;
/// PFS byte: the page is an IAM page.
pub const PFS_IAM: u8 = 0x10;
const MAP_OFFSET: usize = 194;
const MAP_EXTENTS: usize = 63_904;

/// The PFS page that describes `page`.
pub fn pfs_page_for(page: PageId) -> PageId {
    PageId::new(page.file, (page.page / PFS_INTERVAL * PFS_INTERVAL).max(1))
}

/// Cached PFS bytes, shared between threads (one 8 KiB page per 8088 database pages).
#[derive(Default)]
pub struct PfsCache {
    pages: Mutex<HashMap<PageId, std::sync::Arc<[u8; PAGE_SIZE]>>>,
}

impl PfsCache {
    /// The PFS byte of `page`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Incomplete`] when the PFS page is not in the backup; page read errors.
    pub fn status(&self, store: &PageStore, page: PageId) -> Result<u8> {
        let pfs_id = pfs_page_for(page);
        let cached = self.pages.lock().expect("PFS cache lock").get(&pfs_id).cloned();
        let pfs = match cached {
            Some(p) => p,
            None => {
                let p = store.read(pfs_id)?;
                if p.header().page_type != PageType::Pfs {
                    return Err(Error::corrupt(format!("page {pfs_id} should be a PFS page")).on_page(pfs_id));
                }
                let bytes = std::sync::Arc::new(*p.bytes());
                self.pages.lock().expect("PFS cache lock").insert(pfs_id, bytes.clone());
                bytes
            }
        };
        let base = if pfs_id.page == 1 { 0 } else { pfs_id.page };
        let index = (page.page - base) as usize;
        Ok(pfs[100 + index])
    }
}

/// Extents marked allocated by the GAM pages of data file `file` whose file has
/// `size_pages` pages (or, when the size is unknown, every GAM interval present).
///
/// # Errors
/// [`crate::ErrorKind::Incomplete`] when a GAM page is missing; read errors.
pub fn gam_allocated_extents(store: &PageStore, file: u16, size_pages: u64) -> Result<Vec<PageId>> {
    let mut out = Vec::new();
    let mut start = 0u64;
    while start < size_pages.max(1) {
        let gam_id = PageId::new(file, (start as u32).max(2));
        let gam = store.read(gam_id)?;
        if gam.header().page_type != PageType::Gam {
            return Err(Error::corrupt(format!("page {gam_id} should be a GAM page")).on_page(gam_id));
        }
        let bytes = gam.bytes();
        for i in 0..MAP_EXTENTS {
            let first = start + i as u64 * 8;
            if first >= size_pages {
                break;
            }
            if bytes[MAP_OFFSET + i / 8] & (1 << (i % 8)) == 0 {
                out.push(PageId::new(file, first as u32));
            }
        }
        start += u64::from(GAM_INTERVAL);
    }
    Ok(out)
}

/// What an IAM chain maps: the allocation unit's extents and single (mixed-extent) pages,
/// and its IAM pages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IamMap {
    /// IAM pages of the chain, in chain order.
    pub iam_pages: Vec<PageId>,
    /// Dedicated extents (first page of each), in IAM order.
    pub extents: Vec<PageId>,
    /// Single pages from mixed extents.
    pub single_pages: Vec<PageId>,
}

impl IamMap {
    /// Every page the map names (single pages, then the 8 pages of each extent), in order.
    /// (The reader takes them by position instead; this is for `internals` users.)
    #[cfg(feature = "internals")]
    pub fn pages(&self) -> impl Iterator<Item = PageId> + '_ {
        self.single_pages
            .iter()
            .copied()
            .chain(self.extents.iter().flat_map(|e| (0..8).map(move |k| PageId::new(e.file, e.page + k))))
    }
}

/// Walks the IAM chain starting at `first_iam`.
///
/// # Errors
/// [`crate::ErrorKind::Incomplete`] when an IAM page is missing; [`crate::ErrorKind::Corrupt`] when the
/// chain holds a page that is not an IAM page or loops.
pub fn read_iam_chain(store: &PageStore, first_iam: PageId) -> Result<IamMap> {
    let (map, err) = read_iam_chain_partial(store, first_iam);
    match err {
        Some(e) => Err(e),
        None => Ok(map),
    }
}

/// Like [`read_iam_chain`], but returns what was mapped before an error together with it
/// (salvage reads of incomplete backups).
pub fn read_iam_chain_partial(store: &PageStore, first_iam: PageId) -> (IamMap, Option<Error>) {
    let mut map = IamMap::default();
    match walk_iam(store, first_iam, &mut map) {
        Ok(()) => (map, None),
        Err(e) => (map, Some(e)),
    }
}

fn walk_iam(store: &PageStore, first_iam: PageId, map: &mut IamMap) -> Result<()> {
    let mut next = first_iam;
    while !next.is_null() {
        if map.iam_pages.contains(&next) || map.iam_pages.len() > 1_000_000 {
            return Err(Error::corrupt(format!("IAM chain from {first_iam} loops at {next}")).on_page(next));
        }
        let page = store.read(next).map_err(|e| e.context(format!("IAM chain starting at {first_iam}")))?;
        if page.header().page_type != PageType::Iam {
            return Err(Error::corrupt(format!("IAM chain from {first_iam} reaches a non-IAM page")).on_page(next));
        }
        let b = page.bytes();
        let start = PageId::from_bytes(&b[136..142]).expect("6 bytes");
        for i in 0..8 {
            let p = PageId::from_bytes(&b[142 + 6 * i..148 + 6 * i]).expect("6 bytes");
            if !p.is_null() {
                map.single_pages.push(p);
            }
        }
        if page.slot_count() >= 2 {
            for i in 0..MAP_EXTENTS {
                let byte = b[MAP_OFFSET + i / 8];
                if byte == 0 {
                    continue;
                }
                if byte & (1 << (i % 8)) != 0 {
                    let first = u64::from(start.page) + i as u64 * 8;
                    let first = u32::try_from(first).map_err(|_| {
                        Error::corrupt(format!("IAM page maps an extent beyond page 2^32 (start {start})"))
                            .on_page(next)
                    })?;
                    map.extents.push(PageId::new(start.file, first));
                }
            }
        }
        map.iam_pages.push(next);
        next = page.header().next;
    }
    Ok(())
}

/// Extents named by `map` that the backup does not hold.
pub fn missing_extents(store: &PageStore, map: &IamMap) -> Vec<PageId> {
    let mut missing: Vec<PageId> = map
        .single_pages
        .iter()
        .map(|p| p.extent())
        .chain(map.extents.iter().copied())
        .filter(|e| !store.has_extent(*e))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}
