//! The README shows the type-mapping table; it must be the one in code.

#[test]
fn readme_type_mapping_is_the_code_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start =
        readme.find("<!-- type-mapping:start -->\n").expect("start marker") + "<!-- type-mapping:start -->\n".len();
    let end = readme.find("<!-- type-mapping:end -->").expect("end marker");
    assert_eq!(
        &readme[start..end],
        bak2pg::typemap::markdown_table(),
        "README.md's type mapping differs from bak2pg::typemap::MAPPING: paste `cargo run -p bak2pg --example type_mapping`"
    );
}
