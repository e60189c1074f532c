//! Imports go one way: no module of `src/` names a module of a higher layer (issue 26).
//!
//! Layers, lowest first (a module may use its own layer and the ones below):
//! 0. `domain`, `clock`: rules and time, no IO;
//! 1. `config`, `error`, `db`, `security`, `i18n`, `telemetry`, `wire`: settings and infrastructure;
//! 2. `repo`, `email`, `media`, `push`: storage and the ways out;
//! 3. `state`: what a request or a job is given;
//! 4. `services`: the use cases;
//! 5. `jobs`: the passes that run on a timer;
//! 6. `http`: routes, handlers, extractors, middleware, the OpenAPI document;
//! 7. `startup`, `lib`, `main`: wiring.
//!
//! The check reads the source: every `crate::` path, including each name in a grouped
//! `use crate::{a::…, b::…}`, in code, doc links and attributes (`serialize_with = "crate::…"`).

use std::{collections::BTreeMap, fs, path::Path};

const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("clock", 0),
    ("config", 1),
    ("error", 1),
    ("db", 1),
    ("security", 1),
    ("i18n", 1),
    ("telemetry", 1),
    ("wire", 1),
    ("repo", 2),
    ("email", 2),
    ("media", 2),
    ("push", 2),
    ("state", 3),
    ("services", 4),
    ("jobs", 5),
    ("http", 6),
    ("startup", 7),
    ("lib", 7),
    ("main", 7),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// The top-level module a file under `src/` belongs to.
fn module_of(relative: &Path) -> String {
    let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules named after `crate::` in `text`.
fn named_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("crate::") {
        let start = from + found + "crate::".len();
        from = start;
        // `$crate::` in macros and `other_crate::` are not this crate's paths.
        let before = text[..start - "crate::".len()].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if bytes.get(start) == Some(&b'{') {
            // A grouped use: the names at depth one.
            let mut depth = 0usize;
            let mut word = String::new();
            let mut expecting_name = true;
            for c in text[start..].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        expecting_name = depth == 1;
                    }
                    '}' => {
                        if depth == 1 && expecting_name && !word.is_empty() {
                            out.push(std::mem::take(&mut word));
                        }
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expecting_name = true,
                    c if depth == 1 && expecting_name && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ => {
                        if depth == 1 && expecting_name && !word.is_empty() {
                            out.push(std::mem::take(&mut word));
                            expecting_name = false;
                        }
                    }
                }
            }
        } else {
            let name: String = text[start..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.push(name);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "found {} files under {}", files.len(), src.display());
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap_or(file);
        let module = module_of(relative);
        let Some(own) = rank(&module) else {
            unknown.push(relative.display().to_string());
            continue;
        };
        let text = fs::read_to_string(file).unwrap_or_default();
        for named in named_modules(&text) {
            match rank(&named) {
                Some(r) if r > own => {
                    upward.entry(relative.display().to_string()).or_default().push(named);
                }
                Some(_) => {}
                // A crate-root item (a macro, a re-export) rather than a module.
                None => {}
            }
        }
    }
    assert!(unknown.is_empty(), "modules without a layer (add them to LAYERS): {unknown:?}");
    for names in upward.values_mut() {
        names.sort();
        names.dedup();
    }
    assert!(upward.is_empty(), "imports of a higher layer: {upward:#?}");
}

#[test]
fn the_checker_sees_grouped_uses_paths_and_attributes() {
    let text = "use crate::{\n    db::{new_id, to_db},\n    http::json::{A, B},\n    state::AppState,\n};\n\
                #[serde(serialize_with = \"crate::services::x\")]\nlet m = $crate::ignored::x; other_crate::no;";
    assert_eq!(named_modules(text), ["db", "http", "state", "services"]);
}
