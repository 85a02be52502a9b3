//! Who is asking: the subject and role a verified token carries, and what each role may do.
//! Tokens are verified before this (by API Gateway's JWT authorizer in AWS, by `echome serve`
//! locally); the claims arrive as API Gateway passes them, every value a string, and the same
//! rules apply behind both.

use std::collections::HashMap;

use serde::Serialize;

/// What a user may do, in increasing order: each role can do what the ones below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads calls, voices, runs, jobs and metrics.
    Viewer,
    /// Also acts on voices, samples and jobs.
    Operator,
    /// Everything, including other users' data and cleanup.
    Admin,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Operator, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// `viewer`, `operator`, `admin`, also as a scope (`echome/admin`) or a group name in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        let name = raw.trim().rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request is not let in. `status` is 401 (who are you?) or 403 (not allowed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this route needs a bearer token (Authorization: Bearer <token>)")]
    MissingToken,
    #[error("the token was refused: {0}")]
    InvalidToken(String),
    #[error("the token has no subject (sub)")]
    NoSubject,
    #[error("the token names no echome role (viewer, operator or admin)")]
    NoRole,
    #[error("this needs the {needed} role; the token has {has}")]
    Forbidden { needed: Role, has: Role },
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingToken | Self::InvalidToken(_) | Self::NoSubject => 401,
            Self::NoRole | Self::Forbidden { .. } => 403,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "unauthenticated",
            Self::InvalidToken(_) | Self::NoSubject => "invalid_token",
            Self::NoRole => "no_role",
            Self::Forbidden { .. } => "forbidden",
        }
    }

    /// The `WWW-Authenticate` value a 401 carries (RFC 6750), `None` for a 403.
    pub fn challenge(&self) -> Option<String> {
        match self {
            Self::MissingToken => Some(r#"Bearer realm="echome""#.to_owned()),
            Self::InvalidToken(_) | Self::NoSubject => {
                let why = self.to_string().replace('"', "'");
                Some(format!(r#"Bearer realm="echome", error="invalid_token", error_description="{why}""#))
            }
            Self::NoRole | Self::Forbidden { .. } => None,
        }
    }
}

/// A verified user: who (the token's `sub`) and their highest role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
}

/// The claims that can carry a role: a `roles` claim, Cognito's groups, or OAuth scopes.
const ROLE_CLAIMS: [&str; 3] = ["roles", "cognito:groups", "scope"];

impl Principal {
    /// From the claims as API Gateway's JWT authorizer passes them (strings; a list claim as
    /// `[a b]`) and its `scopes`. The highest role named anywhere wins; none is a 403.
    pub fn from_claims(claims: &HashMap<String, String>, scopes: &[String]) -> Result<Self, AuthError> {
        let subject =
            claims.get("sub").map(|s| s.trim()).filter(|s| !s.is_empty()).ok_or(AuthError::NoSubject)?;
        let listed = ROLE_CLAIMS.iter().filter_map(|c| claims.get(*c)).flat_map(|v| list_items(v));
        let role = listed
            .chain(scopes.iter().map(String::as_str))
            .filter_map(Role::parse)
            .max()
            .ok_or(AuthError::NoRole)?;
        Ok(Self { subject: subject.to_owned(), role })
    }

    /// At least `needed`, or a 403 that says what was missing.
    pub fn require(&self, needed: Role) -> Result<(), AuthError> {
        if self.role >= needed { Ok(()) } else { Err(AuthError::Forbidden { needed, has: self.role }) }
    }
}

/// `"[admin viewer]"`, `"admin,viewer"`, `"echome/admin echome/viewer"` or a JSON array, as
/// the claim arrives.
fn list_items(value: &str) -> Vec<&str> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|s| s.trim_matches('"'))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Claims as API Gateway hands them to the function: strings stay strings, numbers and
/// booleans are written out, arrays become `[a b]`. `echome serve` builds the same shape from
/// a token it verified, so the handlers read one form.
pub fn gateway_claims(claims: &serde_json::Map<String, serde_json::Value>) -> HashMap<String, String> {
    use serde_json::Value;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    claims
        .iter()
        .map(|(k, v)| {
            let flat = match v {
                Value::Array(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(" ")),
                other => text(other),
            };
            (k.clone(), flat)
        })
        .collect()
}

/// Claims as the gateway passes them, and the token's scopes.
pub type GatewayClaims = (HashMap<String, String>, Vec<String>);

/// Verifies a bearer token the gateway did not verify (`echome serve`, or an open route such
/// as `/health?detail` in AWS): signature, issuer, audience and times.
pub trait TokenVerifier: Send + Sync {
    fn verify(
        &self,
        token: &str,
    ) -> impl std::future::Future<Output = Result<GatewayClaims, AuthError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_highest_role_anywhere_in_the_token_wins() {
        let p =
            Principal::from_claims(&claims(&[("sub", "anna"), ("cognito:groups", "[viewer admin]")]), &[])
                .unwrap();
        assert_eq!((p.subject.as_str(), p.role), ("anna", Role::Admin));
        let p = Principal::from_claims(&claims(&[("sub", "bo"), ("roles", "operator")]), &[]).unwrap();
        assert_eq!(p.role, Role::Operator);
        let p = Principal::from_claims(&claims(&[("sub", "cy")]), &["echome/viewer".to_owned()]).unwrap();
        assert_eq!(p.role, Role::Viewer);
        let p = Principal::from_claims(&claims(&[("sub", "dee"), ("scope", "openid echome/operator")]), &[])
            .unwrap();
        assert_eq!(p.role, Role::Operator);
    }

    #[test]
    fn no_role_is_403_and_no_subject_is_401() {
        let e = Principal::from_claims(&claims(&[("sub", "x"), ("roles", "[superuser]")]), &[]).unwrap_err();
        assert_eq!((e.status(), e.code()), (403, "no_role"));
        let e = Principal::from_claims(&claims(&[("roles", "admin")]), &[]).unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.challenge().unwrap().contains("invalid_token"));
    }

    #[test]
    fn roles_are_ordered() {
        let viewer = Principal { subject: "v".into(), role: Role::Viewer };
        assert_eq!(viewer.require(Role::Viewer), Ok(()));
        let e = viewer.require(Role::Admin).unwrap_err();
        assert_eq!(
            (e.status(), e.to_string().as_str()),
            (403, "this needs the admin role; the token has viewer")
        );
        assert_eq!(AuthError::MissingToken.challenge().as_deref(), Some(r#"Bearer realm="echome""#));
    }

    #[test]
    fn claims_flatten_as_the_gateway_does() {
        let v = serde_json::json!({"sub": "a", "roles": ["viewer", "operator"], "exp": 17, "admin": false});
        let flat = gateway_claims(v.as_object().unwrap());
        assert_eq!(flat["roles"], "[viewer operator]");
        assert_eq!((flat["exp"].as_str(), flat["admin"].as_str()), ("17", "false"));
        assert_eq!(Principal::from_claims(&flat, &[]).unwrap().role, Role::Operator);
    }
}
