//! End-to-end tests across crates live in `tests/`: they run the `echome` binary (the same
//! handlers as the Lambdas) against generated recordings, real ffmpeg and an ElevenLabs stub.

use std::path::PathBuf;

/// The `echome` binary of this build. `cargo test --workspace` builds it (the CLI crate's own
/// tests need it) before any test runs; alone, run `cargo build -p echome-cli` first.
pub fn echome() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/{profile}/deps/<test> → target/{profile}/echome
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(format!("echome{}", std::env::consts::EXE_SUFFIX)))
        .expect("a target directory");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p echome-cli` first)",
        bin.display()
    );
    bin
}
