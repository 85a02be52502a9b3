//! Bearer tokens outside AWS. In AWS, API Gateway's JWT authorizer verifies tokens and the
//! handlers read its claims; `echome serve` verifies them here and hands the handlers the
//! same claims, so one set of rules holds in both places.
//!
//! Two sources of keys: a local HS256 key kept in the data dir (`echome token` signs with it),
//! or an identity provider's JWKS (`ECHOME_JWT_ISSUER`, `ECHOME_JWT_AUDIENCE`,
//! `ECHOME_JWKS_URL`). Either way the token must name the issuer and the audience, carry a
//! subject, be within its `exp`/`nbf`, and be signed by a known key with the key's algorithm:
//! `alg: none` and a token signed for another key are refused.

mod jwks;
mod local_key;

use echome_core::auth::AuthError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

pub use jwks::Jwks;
pub use local_key::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalKey, local_secret};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_S: u64 = 5;

/// A token that checked out: its claims as signed, and its OAuth scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub claims: Map<String, Value>,
    pub scopes: Vec<String>,
}

/// Where tokens' keys come from.
pub enum Verifier {
    Local(LocalKey),
    Jwks(Jwks),
}

impl Verifier {
    /// `ECHOME_JWT_ISSUER` + `ECHOME_JWT_AUDIENCE` + `ECHOME_JWKS_URL` when set (all three, or
    /// none), else the data dir's local key (created on first use).
    pub async fn from_env(data_dir: &std::path::Path) -> Result<Self, String> {
        let var = |n: &str| std::env::var(n).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        match (var("ECHOME_JWT_ISSUER"), var("ECHOME_JWT_AUDIENCE"), var("ECHOME_JWKS_URL")) {
            (None, None, None) => LocalKey::load_or_create(data_dir).map(Self::Local),
            (Some(issuer), Some(audience), Some(url)) => {
                Jwks::fetch(issuer, audience, url).await.map(Self::Jwks)
            }
            _ => Err("set all three of ECHOME_JWT_ISSUER, ECHOME_JWT_AUDIENCE and ECHOME_JWKS_URL, or none \
                      (then tokens from `echome token` are accepted)"
                .into()),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        match self {
            Self::Local(key) => {
                let decoding = DecodingKey::from_secret(key.secret())
                    .map_err(|_| refused("the local key cannot verify tokens"))?;
                check(token, &decoding, Algorithm::HS256, LOCAL_ISSUER, LOCAL_AUDIENCE)
            }
            Self::Jwks(jwks) => jwks.verify(token).await,
        }
    }
}

impl echome_core::auth::TokenVerifier for Verifier {
    async fn verify(&self, token: &str) -> Result<echome_core::auth::GatewayClaims, AuthError> {
        let v = Verifier::verify(self, token).await?;
        Ok((echome_core::auth::gateway_claims(&v.claims), v.scopes))
    }
}

fn refused(why: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(why.into())
}

/// Signature, algorithm, issuer, audience (`aud`, or Cognito's `client_id` on access tokens),
/// `exp`, `nbf` and `sub`.
pub(crate) fn check(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    issuer: &str,
    audience: &str,
) -> Result<Verified, AuthError> {
    let mut v = Validation::new(alg);
    v.leeway = LEEWAY_S;
    v.validate_nbf = true;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    // Checked below: Cognito access tokens name the client in `client_id`, not `aud`.
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        refused(match e.kind() {
            ErrorKind::ExpiredSignature => "it has expired".to_owned(),
            ErrorKind::ImmatureSignature => "it is not valid yet (nbf)".to_owned(),
            ErrorKind::InvalidIssuer => format!("it was not issued by {issuer}"),
            ErrorKind::InvalidSignature => "its signature does not match a known key".to_owned(),
            ErrorKind::InvalidAlgorithm => format!("it must be signed with {alg:?}"),
            ErrorKind::MissingRequiredClaim(c) => format!("it has no {c} claim"),
            _ => "it is not a well-formed signed JWT".to_owned(),
        })
    })?;
    let claims = data.claims;
    let names_audience = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s == audience,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(audience)),
        _ => false,
    };
    if !names_audience(claims.get("aud")) && !names_audience(claims.get("client_id")) {
        return Err(refused(format!("it is not meant for the audience {audience}")));
    }
    let scopes = claims
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Verified { claims, scopes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use echome_core::auth::Role;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    async fn reason(v: &Verifier, token: String) -> String {
        match v.verify(&token).await {
            Err(AuthError::InvalidToken(why)) => why,
            other => panic!("accepted: {other:?}"),
        }
    }

    #[tokio::test]
    async fn local_tokens_are_checked_for_everything_that_can_be_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let key = LocalKey::load_or_create(dir.path()).unwrap();
        let verifier = Verifier::Local(LocalKey::load_or_create(dir.path()).unwrap());
        let good = key.issue("anna", Role::Operator, std::time::Duration::from_secs(60)).unwrap();
        let v = verifier.verify(&good).await.unwrap();
        assert_eq!(
            (v.claims["sub"].as_str(), v.claims["roles"][0].as_str()),
            (Some("anna"), Some("operator"))
        );

        let now = jsonwebtoken::get_current_timestamp() as i64;
        let claims = |f: &dyn Fn(&mut Value)| {
            let mut c = serde_json::json!({"sub": "anna", "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE,
                "iat": now, "exp": now + 60, "roles": ["admin"]});
            f(&mut c);
            c
        };
        assert!(
            reason(&verifier, key.sign(&claims(&|c| c["exp"] = (now - 30).into())).unwrap())
                .await
                .contains("expired")
        );
        assert!(
            reason(&verifier, key.sign(&claims(&|c| c["nbf"] = (now + 600).into())).unwrap())
                .await
                .contains("not valid yet")
        );
        assert!(
            reason(&verifier, key.sign(&claims(&|c| c["aud"] = "someone-else".into())).unwrap())
                .await
                .contains("audience")
        );
        assert!(
            reason(&verifier, key.sign(&claims(&|c| c["iss"] = "https://evil.example".into())).unwrap())
                .await
                .contains("issued")
        );
        let other = tempfile::tempdir().unwrap();
        let stranger = LocalKey::load_or_create(other.path()).unwrap();
        assert!(reason(&verifier, stranger.sign(&claims(&|_| {})).unwrap()).await.contains("signature"));
        let none =
            format!("{}.{}.", b64(&serde_json::json!({"alg": "none", "typ": "JWT"})), b64(&claims(&|_| {})));
        assert!(reason(&verifier, none).await.contains("well-formed"));
        assert!(reason(&verifier, "not-a-token".into()).await.contains("well-formed"));
    }
}
