//! A running `echome serve` for the end-to-end tests and the call benchmark: started on a free
//! port with the environment given, its address read from its first line, stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Serve {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Serve {
    /// `echome --data-dir DATA serve --port 0` with `env` set; returns once it listens.
    pub fn start(echome: &Path, data: &Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(echome);
        cmd.arg("--data-dir").arg(data).args(["serve", "--port", "0"]).stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", echome.display()));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("serve's stdout");
        BufReader::new(stdout).read_line(&mut line).expect("serve's first line");
        let first: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("serve's address line {line:?}: {e}"));
        let base = first["listening"].as_str().expect("the address serve listens on").to_owned();
        Self { child, base }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("stopping echome serve: {e}");
        }
        if let Err(e) = self.child.wait() {
            eprintln!("waiting for echome serve: {e}");
        }
    }
}

/// A bearer token from `echome token` (it works beside a running serve on the same data dir).
pub fn token(echome: &Path, data: &Path, sub: &str, role: &str, ttl: &str) -> String {
    let out = Command::new(echome)
        .arg("--data-dir")
        .arg(data)
        .args(["token", "--sub", sub, "--role", role, "--ttl", ttl])
        .output()
        .expect("echome token");
    assert!(out.status.success(), "echome token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
