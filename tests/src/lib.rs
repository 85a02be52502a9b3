//! End-to-end tests across crates live in `tests/`: they run the `echome` binary (the same
//! handlers as the Lambdas) against generated recordings, real ffmpeg and an ElevenLabs stub.

use std::path::PathBuf;

use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The stub's `GET /v1/user/subscription` for the key `key`: 1 of 10 voice slots in use.
pub async fn mount_subscription(server: &MockServer, key: &str) {
    Mock::given(method("GET"))
        .and(path("/v1/user/subscription"))
        .and(header("xi-api-key", key))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"voice_slots_used": 1, "voice_limit": 10})),
        )
        .mount(server)
        .await;
}

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

/// `echome --data-dir data ARGS` offline (no ElevenLabs key), for a pipeline test that is not
/// about consent: the deployment does not require it (`CONSENT_POLICY=not_required`; the
/// consent tests use [`echome_json_with`] and the default). Whether it succeeded, and the JSON
/// it printed.
pub fn echome_json(data: &std::path::Path, args: &[&str]) -> (bool, serde_json::Value) {
    echome_json_with(data, &[("CONSENT_POLICY", "not_required")], args)
}

/// `echome --data-dir data ARGS` offline with `env` set.
pub fn echome_json_with(
    data: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, serde_json::Value) {
    let mut cmd = std::process::Command::new(echome());
    cmd.env_remove("ELEVENLABS_API_KEY").env_remove("CONSENT_POLICY").arg("--data-dir").arg(data).args(args);
    cmd.envs(env.iter().copied());
    run_json(cmd, &[])
}

/// Runs `cmd` (an `echome` command): whether it succeeded, and the JSON it printed. A panic
/// reaching the user, or any of `secrets` in its output, fails the test.
pub fn run_json(mut cmd: std::process::Command, secrets: &[&str]) -> (bool, serde_json::Value) {
    let out = cmd.output().expect("run echome");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stderr.contains("panicked"), "{stderr}");
    for secret in secrets {
        assert!(!stderr.contains(secret) && !stdout.contains(secret), "a secret is never printed");
    }
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    (out.status.success(), json)
}

/// A folder of recordings that `bench/{script}` builds from real speech (Debian's packages).
/// Built once per version of the script, under the target folder, and shared by every test
/// binary (cargo runs them one after another): building them takes longer than most tests.
pub fn built_by(script: &str) -> std::path::PathBuf {
    use std::hash::{Hash, Hasher};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench").join(script);
    let source = std::fs::read(&path).expect("the bench script");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-recordings").join(format!("{script}-{:016x}", hasher.finish()));
    if dir.join(".built").is_file() {
        return dir;
    }
    // Built aside and moved into place whole: a folder marked built is complete.
    let building = target.join("test-recordings").join(format!(".{script}-{}", std::process::id()));
    let ok = std::process::Command::new("python3").arg(&path).arg(&building).status().expect("python3");
    assert!(
        ok.success(),
        "building the recordings with bench/{script} (python3, ffmpeg, the packages make deps installs)"
    );
    std::fs::write(building.join(".built"), b"").expect("marking the recordings built");
    if std::fs::rename(&building, &dir).is_err() {
        // Another process moved its copy first: theirs is as good.
        std::fs::remove_dir_all(&building).expect("removing a spare copy of the recordings");
    }
    dir
}
