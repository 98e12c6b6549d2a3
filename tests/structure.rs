//! The module structure: no import cycle between the top-level modules of any crate, so
//! every dependency arrow points one way (a module and what it uses can be read, tested
//! and changed without the rest). Dependencies are read from the code: `crate::<module>`
//! paths and `use crate::{…}` groups, outside comments and `#[cfg(test)] mod tests`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `.rs` files under `src`, grouped by top-level module (`lib`/`main` for the root).
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("a source folder") {
            let p = e.expect("an entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
        let top = first.trim_end_matches(".rs").to_string();
        out.entry(top).or_default().push(f);
    }
    out
}

/// The code of `text` without line comments and without a trailing test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Identifiers after `crate::`, and inside `crate::{…}` groups.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for part in inner.split(',') {
                out.insert(ident(part.trim()));
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

/// A cycle in `graph`, if there is one, as the modules on it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let from = path.iter().position(|p| p == m).expect("on the path");
                    return Some(path[from..].to_vec());
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n.as_str())
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (mut checked, mut edges) = (0, 0);
    for krate in ["crates/mssql-backup", "crates/bak2pg", "crates/bak2pg-aws", "agent"] {
        let mods = modules(&root.join(krate).join("src"));
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (m, files) in &mods {
            let deps = graph.entry(m.clone()).or_default();
            for f in files {
                let text = std::fs::read_to_string(f).expect("a source file");
                deps.extend(crate_refs(&code(&text)).into_iter().filter(|d| d != m && mods.contains_key(d)));
            }
        }
        edges += graph.values().map(BTreeSet::len).sum::<usize>();
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{krate}: import cycle between modules: {} -> {}", cycle.join(" -> "), cycle[0]);
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
    assert!(edges > 50, "only {edges} dependencies found: the scan is broken");
}

#[test]
fn the_scan_sees_a_cycle() {
    let refs = crate_refs(&code("use crate::{a, b::C};\nfn f() { crate::c::g() } // crate::d\n"));
    assert_eq!(refs, ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
    let g: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a")].iter().map(|(x, y)| (x.to_string(), [y.to_string()].into())).collect();
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "c".into()]));
}
