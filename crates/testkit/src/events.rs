//! The sample events under `events/{function}/`, for the tests that run every one of them.

use std::path::PathBuf;

fn dir(function: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(function)
}

/// The events' names (file stems), sorted.
pub fn names(function: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir(function))
        .unwrap_or_else(|e| panic!("events/{function}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// One event's raw JSON.
pub fn read(function: &str, name: &str) -> Vec<u8> {
    let path = dir(function).join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One event, parsed as the function's input type.
pub fn parse<T: serde::de::DeserializeOwned>(function: &str, name: &str) -> T {
    serde_json::from_slice(&read(function, name))
        .unwrap_or_else(|e| panic!("events/{function}/{name}.json is not the function's input: {e}"))
}
