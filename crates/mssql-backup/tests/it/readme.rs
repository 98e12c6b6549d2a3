//! The README's example is `examples/read_tables.rs`, verbatim, and it runs on a fixture.

#[path = "../../examples/read_tables.rs"]
#[allow(dead_code, reason = "its main is the example's, not the test's")]
mod read_tables;

use crate::fixture;

#[test]
fn readme_example_is_examples_read_tables() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../../examples/read_tables.rs");
    let start = readme.find("```rust\n").expect("a rust block in README.md") + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("the block's end");
    assert_eq!(&readme[start..end], example, "README.md's example differs from examples/read_tables.rs: paste it");
}

#[test]
fn example_lists_tables_and_rows_of_a_fixture() {
    let mut out = Vec::new();
    read_tables::print_tables(&fixture("pubs-sql2012.bak"), &mut out).unwrap_or_else(|e| panic!("{e}"));
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("pubs: full database backup, started "), "{out}");
    assert!(!out.contains("incomplete"), "{out}");
    let authors = out.find("[dbo].[authors] (au_id varchar(11), ").unwrap_or_else(|| panic!("{out}"));
    assert!(out[authors..].contains("\n  23 rows\n"), "{out}");
    assert!(out[authors..].contains("String(\"172-32-1176\")"), "{out}");
}
