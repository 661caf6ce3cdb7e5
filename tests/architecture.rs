//! The tree's shape, checked on every `cargo test` (DESIGN.md, "Layers"): the arrows only
//! point down (`proto` imports only `proto`; the io_uring driver imports no server, load,
//! protocol or configuration code; `load` never imports `backend`; no backend imports
//! another, and what the task-per-connection backends share imports neither), no two
//! modules of one folder import each other (directly or round a longer cycle), `unsafe`
//! appears only in `src/uring/`, and functions stay short (none over 40 lines counting
//! blank ones, outside tests, in `src/` or `benches/`; median at most 10). Reads the
//! sources as text, with comments and string literals blanked out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file, its code with comments and literals blanked, tests cut off.
struct Source {
    path: String,
    code: Vec<String>,
}

fn sources(dir: &str) -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    match root.join(dir) {
        file if file.is_file() => files.push(file),
        dir => collect(&dir, &mut files),
    }
    files.sort();
    files
        .into_iter()
        .filter(|p| !is_test_file(p))
        .map(|p| Source {
            path: p.strip_prefix(root).unwrap().display().to_string(),
            code: without_tests(&blank(&std::fs::read_to_string(&p).unwrap())),
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Test modules kept in files of their own (`#[path = "x_tests.rs"]`, `props.rs`).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.ends_with("tests.rs") || name == "props.rs"
}

/// The lines before an inline `#[cfg(test)] mod tests {` (always last in this tree).
fn without_tests(lines: &[String]) -> Vec<String> {
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests {"))
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// The text with comments, string and character literals replaced by spaces, so that
/// braces and words inside them do not count.
fn blank(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        let end = literal_end(bytes, i);
        if end > i {
            out[i..end]
                .iter_mut()
                .filter(|b| **b != b'\n')
                .for_each(|b| *b = b' ');
            i = end;
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Where a comment or literal starting at `i` ends, or `i` if none starts there.
fn literal_end(b: &[u8], i: usize) -> usize {
    let rest = &b[i..];
    let find = |from: usize, pat: &[u8]| {
        (from..b.len())
            .find(|&j| b[j..].starts_with(pat))
            .map_or(b.len(), |j| j + pat.len())
    };
    if rest.starts_with(b"//") {
        (i..b.len()).find(|&j| b[j] == b'\n').unwrap_or(b.len())
    } else if rest.starts_with(b"/*") {
        find(i + 2, b"*/")
    } else if rest.starts_with(b"r#\"") {
        find(i + 3, b"\"#")
    } else if rest[0] == b'"' {
        string_end(b, i + 1)
    } else if rest[0] == b'\'' {
        char_end(b, i)
    } else {
        i
    }
}

fn string_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j] != b'"' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    j + 1
}

/// A character literal (`'a'`, `'\n'`, `'{'`); a lifetime (`'a`) is left alone.
fn char_end(b: &[u8], i: usize) -> usize {
    let close = if b.get(i + 1) == Some(&b'\\') {
        (i + 2..b.len()).find(|&j| b[j] == b'\'')
    } else {
        Some(i + 2).filter(|&j| b.get(j) == Some(&b'\''))
    };
    close.map_or(i, |j| j + 1)
}

/// Lines of `dir` whose code mentions any of `words`, as `path:line: text`.
fn mentions(dir: &str, words: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources(dir) {
        for (n, line) in source.code.iter().enumerate() {
            if words.iter().any(|w| line.contains(w)) {
                found.push(format!("{}:{}: {}", source.path, n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn proto_imports_nothing_outside_proto() {
    let mut found = mentions("src/proto", &["crate::"]);
    found.retain(|l| l.contains("crate::") && !l.contains("crate::proto"));
    // From proto/mod.rs, `super::` is the crate root.
    found.extend(mentions("src/proto/mod.rs", &["super::"]));
    assert!(found.is_empty(), "proto reaches out: {found:#?}");
}

#[test]
fn the_io_uring_driver_imports_no_server_load_or_protocol_code() {
    let mut found = mentions("src/uring", &["crate::"]);
    found.retain(|l| !l.contains("crate::uring"));
    assert!(found.is_empty(), "the driver reaches up: {found:#?}");
}

#[test]
fn the_load_generator_never_imports_a_backend() {
    let found = mentions("src/load", &["crate::backend", "crate::server"]);
    assert!(
        found.is_empty(),
        "load imports a server backend: {found:#?}"
    );
}

/// The server's backends, each in a folder of its own.
const BACKENDS: [&str; 3] = ["uring", "tokio", "tokio_uring"];

/// How code in `src/backend/FROM/` could name backend `to`.
fn naming(to: &str) -> Vec<String> {
    let path = |prefix: &str| format!("{prefix}{to}::");
    vec![
        path("backend::"),
        path("super::super::"),
        format!("super::{to}"),
    ]
}

#[test]
fn no_backend_imports_another() {
    let mut found = Vec::new();
    for from in BACKENDS {
        for to in BACKENDS.iter().filter(|to| **to != from) {
            let words = naming(to);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            found.extend(mentions(&format!("src/backend/{from}"), &words));
        }
    }
    assert!(found.is_empty(), "a backend imports another: {found:#?}");
}

#[test]
fn what_the_task_backends_share_imports_neither() {
    let words: Vec<String> = BACKENDS.iter().flat_map(|b| naming(b)).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let found = mentions("src/backend/tasks", &words);
    assert!(
        found.is_empty(),
        "backend::tasks imports a backend: {found:#?}"
    );
}

/// The modules of a folder (a `mod.rs`, or `lib.rs` for the crate root) and which of
/// them each one names, through `super::` (or `crate::` at the root), with names the
/// folder re-exports resolved to the module that defines them.
fn sibling_imports(dir: &str, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let parent = ["mod.rs", "lib.rs"]
        .map(|f| root.join(f))
        .into_iter()
        .find(|p| p.is_file());
    let modules: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            (p.is_dir() && p.join("mod.rs").is_file()) || p.extension().is_some_and(|e| e == "rs")
        })
        .filter(|p| !is_test_file(p))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| !["mod", "lib", "main", "cli"].contains(&m.as_str()))
        .collect();
    let parent_code = parent.map(|p| blank(&std::fs::read_to_string(p).unwrap()).join("\n"));
    let reexports = reexported(parent_code.as_deref().unwrap_or(""), &modules);
    let mut edges = BTreeMap::new();
    for module in &modules {
        let file = match root.join(format!("{module}.rs")) {
            f if f.is_file() => f,
            _ => root.join(module).join("mod.rs"),
        };
        let code = without_tests(&blank(&std::fs::read_to_string(file).unwrap())).join("\n");
        let named: BTreeSet<String> = first_segments(&code, prefix)
            .into_iter()
            .filter_map(|seg| match modules.contains(&seg) {
                true => Some(seg),
                false => reexports.get(&seg).cloned(),
            })
            .filter(|m| m != module)
            .collect();
        edges.insert(module.clone(), named);
    }
    edges
}

/// Names the parent re-exports (`pub use m::{A, B}` or `pub use m::A`), by module.
fn reexported(code: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for stmt in code.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        if modules.contains(module.trim()) {
            for name in rest
                .trim_matches(|c: char| c == '{' || c == '}' || c.is_whitespace())
                .split(',')
            {
                let name = name.rsplit("::").next().unwrap().trim();
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// The first segment of every path after `prefix` (`super::a::b`, `super::{a, b::c}`).
fn first_segments(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        let items = match rest.strip_prefix('{') {
            Some(group) => group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .collect(),
            None => vec![rest],
        };
        for item in items {
            let ident: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() && ident != "super" && ident != "self" {
                found.push(ident);
            }
        }
    }
    found
}

/// A cycle in `edges`, if there is one, as the modules around it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_modules_import_each_other() {
    let folders = [
        ("src", "crate::"),
        ("src/proto", "super::"),
        ("src/metrics", "super::"),
        ("src/uring", "super::"),
        ("src/load", "super::"),
        ("src/backend", "super::"),
        ("src/backend/tasks", "super::"),
        ("src/backend/uring", "super::"),
    ];
    for (dir, prefix) in folders {
        let edges = sibling_imports(dir, prefix);
        assert!(
            edges.len() > 1,
            "{dir}: the scan sees its modules: {edges:?}"
        );
        assert_eq!(cycle(&edges), None, "{dir}: modules that import each other");
    }
    // The scan finds a cycle where there is one.
    let planted = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(cycle(&planted), Some(vec!["a".to_owned(), "b".to_owned()]));
}

#[test]
fn unsafe_lives_only_in_the_io_uring_driver() {
    let mut found = mentions("src", &["unsafe "]);
    found.retain(|l| !l.starts_with("src/uring/"));
    assert!(found.is_empty(), "unsafe outside src/uring/: {found:#?}");
    assert!(
        !mentions("src/uring", &["unsafe {"]).is_empty(),
        "the scan sees the driver's unsafe blocks"
    );
}

/// Every function's length in lines, signature to closing brace, blank lines counted.
fn function_lengths(dir: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for source in sources(dir) {
        for (start, line) in source.code.iter().enumerate() {
            if let Some(len) = is_fn(line)
                .then(|| body_len(&source.code[start..]))
                .flatten()
            {
                found.push((len, format!("{}:{}", source.path, start + 1)));
            }
        }
    }
    found
}

fn is_fn(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let fn_at = words.iter().position(|w| *w == "fn");
    let qualifiers = ["pub", "const", "async", "unsafe", "extern"];
    fn_at.is_some_and(|i| {
        words[..i]
            .iter()
            .all(|w| qualifiers.contains(w) || w.starts_with("pub("))
    })
}

/// Lines until the braces opened by the function close; `None` for a declaration.
fn body_len(lines: &[String]) -> Option<usize> {
    let mut depth = 0i32;
    let mut counted = 0;
    for line in lines {
        if depth == 0 && line.trim_end().ends_with(';') && !line.contains('{') {
            return None;
        }
        counted += 1;
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if depth == 0 && line.contains('}') {
            return Some(counted);
        }
    }
    None
}

#[test]
fn functions_are_short() {
    let mut lengths = function_lengths("src");
    lengths.extend(function_lengths("benches"));
    assert!(lengths.len() > 100, "the scan finds the functions");
    let long: Vec<_> = lengths.iter().filter(|(len, _)| *len > 40).collect();
    assert!(long.is_empty(), "functions over 40 lines: {long:#?}");
    lengths.sort();
    let median = lengths[lengths.len() / 2].0;
    assert!(median <= 10, "median function length {median}");
}

#[test]
fn the_worker_count_is_read_once() {
    // `available_parallelism` can change between calls (a cpuset or quota resized); a
    // server that read it twice could index a worker that does not exist.
    let reads = mentions("src", &["available_parallelism"]);
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert!(reads[0].starts_with("src/server.rs"), "{reads:#?}");
    let resolved = mentions("src", &["resolve_workers("]);
    assert_eq!(
        resolved.len(),
        3,
        "defined once, called by each start: {resolved:#?}"
    );
}
