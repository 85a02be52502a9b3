//! `echome token`: a token a user can paste, with clear errors for what is wrong; the key it is
//! signed with stays in the data dir, readable by its owner only, and never printed.

use std::process::Command;

fn token(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_echome"))
        .arg("--data-dir")
        .arg(data)
        .arg("token")
        .args(args)
        .output()
        .unwrap()
}

fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

#[test]
fn a_token_names_its_subject_role_and_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let out = token(dir.path(), &["--sub", "anna", "--role", "operator", "--ttl", "15m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jwt = String::from_utf8(out.stdout).unwrap();
    let c = claims(jwt.trim());
    assert_eq!((c["sub"].as_str(), c["roles"][0].as_str()), (Some("anna"), Some("operator")));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    let key = std::fs::read(dir.path().join("auth/token-key")).unwrap();
    assert!(!jwt.as_bytes().windows(key.len()).any(|w| w == key.as_slice()), "the key is not in the token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("auth/token-key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
    }
}

#[test]
fn a_bad_role_or_a_lifetime_without_a_unit_is_refused_with_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let out = token(dir.path(), &["--sub", "anna", "--role", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("viewer, operator or admin"));
    let out = token(dir.path(), &["--sub", "anna", "--role", "viewer", "--ttl", "30"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unit"), "{err}");
    assert!(out.stdout.is_empty(), "no token on a refusal");
}
