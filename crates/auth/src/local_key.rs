//! The local signing key: 32 random bytes in `{data dir}/auth/token-key`, created on first use
//! with owner-only permissions, read by `echome serve` and `echome token` alike (the records
//! database is locked while `serve` runs; this file is not). Never printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use echome_core::auth::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const LOCAL_ISSUER: &str = "echome-local";
pub const LOCAL_AUDIENCE: &str = "echome";

pub struct LocalKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKey(***)")
    }
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("auth").join("token-key")
}

/// 32 random bytes at `path`, made on first use with owner-only permissions (another process
/// that made it first wins); `what` names it in errors. Never printed.
pub fn local_secret(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => {
            return Err(format!(
                "{} is shorter than 32 bytes: delete it to make a new {what}",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read the {what} {}: {e}", path.display())),
    }
    let mut secret = vec![0u8; 32];
    getrandom::getrandom(&mut secret).map_err(|e| format!("no randomness for a {what}: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&secret)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write the {what} {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "made a new local {what}");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => local_secret(path, what),
        Err(e) => Err(format!("cannot create the {what} {}: {e}", path.display())),
    }
}

impl LocalKey {
    pub fn load_or_create(data_dir: &Path) -> Result<Self, String> {
        Ok(Self { secret: local_secret(&key_path(data_dir), "token key")? })
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// A token for `subject` with `role`, valid for `ttl`.
    pub fn issue(&self, subject: &str, role: Role, ttl: Duration) -> Result<String, String> {
        if subject.trim().is_empty() {
            return Err("the token needs a subject (--sub NAME)".into());
        }
        let now = jsonwebtoken::get_current_timestamp();
        let ttl = ttl.as_secs().max(1);
        let claims = json!({
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": subject.trim(),
            "roles": [role.as_str()],
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
        });
        self.sign(&claims)
    }

    /// Signs any claims (tests make tokens that are wrong in one way each).
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let key = EncodingKey::from_secret(&self.secret).map_err(|e| format!("cannot sign a token: {e}"))?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
            .map_err(|e| format!("cannot sign a token: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalKey::load_or_create(dir.path()).unwrap();
        let b = LocalKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.secret(), b.secret(), "the second use reads the first key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "LocalKey(***)");
    }
}
