//! The domain crate's modules form no cycle: each names (`crate::module`) only modules that do
//! not name it back, directly or through others, so any one of them can be read on its own. A
//! folder (`library/`) counts as one module.

use std::collections::{BTreeMap, BTreeSet};

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut g = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        // A module in a folder is its files together (`super::` stays inside it).
        let text = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n")
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        let uses: BTreeSet<String> = text
            .match_indices("crate::")
            .filter_map(|(i, _)| {
                let rest = &text[i + 7..];
                let m: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                (!m.is_empty() && m != name).then_some(m)
            })
            .collect();
        g.insert(name, uses);
    }
    g
}

#[test]
fn no_module_of_the_domain_crate_depends_on_itself_through_others() {
    let g = graph();
    assert!(g.len() > 10, "read the modules: {g:?}");
    for start in g.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in g.get(&at).into_iter().flatten() {
                assert!(next != start, "a cycle: {} -> {next}", path.join(" -> "));
                if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
}
