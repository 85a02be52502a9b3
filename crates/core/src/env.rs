//! Typed configuration from the environment, read once at a function's start: a missing or
//! malformed variable stops the function before it takes any event.

use std::path::PathBuf;
use std::str::FromStr;

pub fn required(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// `None` when unset; an error naming the variable when it does not parse.
pub fn parsed<T: FromStr>(name: &str, what: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name} is not {what}: {v:?}")),
        Err(_) => Ok(None),
    }
}

/// `WORK_DIR`, else the system's temp dir (`/tmp` in Lambda).
pub fn work_dir() -> PathBuf {
    std::env::var_os("WORK_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}
