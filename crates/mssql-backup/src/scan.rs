//! Walking the pages of an allocation unit, and a small LOB page cache.
//!
//! Pages of an allocation unit are found from its IAM chain. Extents an IAM maps may still
//! contain pages that are not allocated (PFS allocated bit clear) and hold stale bytes of
//! other objects; those are skipped, as are pages whose header names another allocation
//! unit. Objects created before an upgrade from SQL Server 2000 have allocation unit ids of
//! the form `index_id << 48 | object_id << 16` while their older pages carry header index
//! id 0 (MANIFEST finding 7): both forms are accepted.

use std::sync::Arc;

use crate::alloc::{IamMap, PFS_ALLOCATED, PFS_IAM, PfsCache, read_iam_chain, read_iam_chain_partial};
use crate::lob::LobPages;
use crate::page::{Page, PageType};
use crate::store::PageStore;
use crate::types::PageId;
use crate::{Error, ErrorKind, Result};

/// True when a page header's allocation unit (`m_indexId`, `m_objId`) is `au`.
pub fn header_matches(page: &Page, au: u64) -> bool {
    let h = page.header();
    let from_header = h.alloc_unit_id();
    if from_header == au {
        return true;
    }
    // Legacy form: auid = index << 48 | object << 16, pages say index 0, objid = object.
    au & 0xffff == 0 && h.index_id == 0 && (au & 0x0000_ffff_ffff_0000) == u64::from(h.obj_id) << 16
}

/// One of `of` disjoint parts of a table's pages, for reading a table on several threads
/// at once ([`crate::Backup::rows_part`]). Each allocation unit's pages, in the order its
/// IAM chain maps them, are cut into runs of [`Part::RUN`] pages, dealt round-robin: part
/// `index` reads runs `index`, `index + of`, … Every page belongs to exactly one part, and
/// a page's records to the part reading the page (a forwarded record is returned on the
/// page that holds it, its stub skipped, so it too is read once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Which part, `0..of`.
    pub index: usize,
    /// How many parts.
    pub of: usize,
}

impl Part {
    /// The whole table.
    pub const WHOLE: Part = Part { index: 0, of: 1 };
    /// Pages per run: 8 extents (512 KiB), long enough for sequential reads, short enough
    /// that the parts of a table of a few thousand pages are even.
    pub const RUN: usize = 64;

    /// Whether the page at position `i` of an allocation unit's page list is in this part.
    pub fn holds(self, i: usize) -> bool {
        self.of <= 1 || (i / Self::RUN) % self.of == self.index
    }
}

/// Iterates the allocated data pages (type 1) of one allocation unit.
pub struct DataPages<'a> {
    store: &'a PageStore,
    pfs: &'a PfsCache,
    au: u64,
    /// The pages, by position ([`DataPages::page_at`]): kept as the IAM's extents, 8 times
    /// smaller than a list of their pages (a 20 GB table maps 2.6 M pages).
    map: IamMap,
    next: usize,
    salvage: bool,
    skipped: Vec<String>,
    part: Part,
}

impl<'a> DataPages<'a> {
    /// Only the pages of `part` (see [`Part`]).
    pub fn part(mut self, part: Part) -> Self {
        self.part = part;
        self
    }

    /// Pages of allocation unit `au` whose IAM chain starts at `first_iam`.
    ///
    /// # Errors
    /// Errors of the IAM chain ([`crate::ErrorKind::Incomplete`] when an IAM page is missing).
    pub fn new(store: &'a PageStore, pfs: &'a PfsCache, au: u64, first_iam: PageId) -> Result<DataPages<'a>> {
        let map = if first_iam.is_null() { IamMap::default() } else { read_iam_chain(store, first_iam)? };
        Ok(DataPages { store, pfs, au, map, next: 0, salvage: false, skipped: Vec::new(), part: Part::WHOLE })
    }

    /// Salvage variant of [`DataPages::new`] for incomplete backups: what cannot be read
    /// because it is missing (IAM pages, data pages, PFS pages) is skipped and listed in
    /// [`DataPages::skipped`] instead of failing. Damaged pages are still errors.
    pub fn salvage(store: &'a PageStore, pfs: &'a PfsCache, au: u64, first_iam: PageId) -> DataPages<'a> {
        let (map, err) =
            if first_iam.is_null() { (IamMap::default(), None) } else { read_iam_chain_partial(store, first_iam) };
        let skipped = err.map(|e| vec![e.to_string()]).unwrap_or_default();
        DataPages { store, pfs, au, map, next: 0, salvage: true, skipped, part: Part::WHOLE }
    }

    /// What a salvage read skipped because it was missing.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Pages of `au` listed explicitly (bootstrap of `sysallocunits` from its page chain).
    pub fn from_list(
        store: &'a PageStore,
        pfs: &'a PfsCache,
        au: u64,
        pages: Vec<PageId>,
        salvage: bool,
    ) -> DataPages<'a> {
        let map = IamMap { single_pages: pages, ..IamMap::default() };
        DataPages { store, pfs, au, map, next: 0, salvage, skipped: Vec::new(), part: Part::WHOLE }
    }

    /// The page at position `i` of the map's order (its single pages, then the 8 pages of
    /// each extent, in IAM order), `None` past the end.
    fn page_at(&self, i: usize) -> Option<PageId> {
        let singles = self.map.single_pages.len();
        if i < singles {
            return Some(self.map.single_pages[i]);
        }
        let e = self.map.extents.get((i - singles) / 8)?;
        Some(PageId::new(e.file, e.page + ((i - singles) % 8) as u32))
    }

    /// The next data page of the allocation unit.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Incomplete`] for a missing page or PFS page; checksum and format
    /// errors of the page.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Page>> {
        while let Some(id) = self.page_at(self.next) {
            if !self.part.holds(self.next) {
                // Skip to the start of this part's next run.
                let run = self.next / Part::RUN;
                let ahead = (self.part.index + self.part.of - run % self.part.of) % self.part.of;
                self.next = (run + ahead) * Part::RUN;
                continue;
            }
            self.next += 1;
            let status = match self.pfs.status(self.store, id) {
                Err(e) if self.salvage && e.kind == ErrorKind::Incomplete => {
                    // Without the PFS page the page may still be read: its header decides.
                    self.skipped.push(format!("allocation status of page {id} unknown: {e}"));
                    PFS_ALLOCATED
                }
                other => other?,
            };
            if status & PFS_ALLOCATED == 0 || status & PFS_IAM != 0 {
                continue;
            }
            let page = match self.store.read_if_formatted(id) {
                Err(e) if self.salvage && e.kind == ErrorKind::Incomplete => {
                    self.skipped.push(format!("page {id} missing"));
                    continue;
                }
                other => other?,
            };
            let Some(page) = page else {
                if self.salvage {
                    continue;
                }
                return Err(Error::corrupt("the PFS marks this page allocated but it is not formatted").on_page(id));
            };
            if page.header().page_type != PageType::Data || !header_matches(&page, self.au) {
                continue;
            }
            return Ok(Some(page));
        }
        Ok(None)
    }
}

/// A small cache of verified pages for LOB reads (LOB fragments of neighbouring rows
/// usually share pages).
pub struct PageCache<'a> {
    store: &'a PageStore,
    entries: Vec<(PageId, Arc<Page>)>,
    capacity: usize,
    cursor: usize,
}

impl<'a> PageCache<'a> {
    /// A cache of `capacity` pages over `store`.
    pub fn new(store: &'a PageStore, capacity: usize) -> Self {
        PageCache { store, entries: Vec::with_capacity(capacity), capacity: capacity.max(1), cursor: 0 }
    }
}

impl LobPages for PageCache<'_> {
    fn lob_page(&mut self, id: PageId) -> Result<Arc<Page>> {
        if let Some((_, p)) = self.entries.iter().find(|(k, _)| *k == id) {
            return Ok(p.clone());
        }
        let page = Arc::new(self.store.read(id)?);
        if !matches!(page.header().page_type, PageType::TextMix | PageType::TextTree | PageType::Data) {
            return Err(Error::corrupt(format!("expected a LOB page, found {:?}", page.header().page_type)).on_page(id));
        }
        if self.entries.len() < self.capacity {
            self.entries.push((id, page.clone()));
        } else {
            self.entries[self.cursor] = (id, page.clone());
            self.cursor = (self.cursor + 1) % self.capacity;
        }
        Ok(page)
    }
}
