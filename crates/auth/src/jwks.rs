//! An identity provider's keys (Cognito, Auth0, Keycloak…), fetched from its JWKS URL at start
//! and again, at most once a minute, when a token names a key id not seen yet (keys rotate).

use std::time::{Duration, Instant};

use echome_core::auth::AuthError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, decode_header};
use tokio::sync::RwLock;

use crate::{Verified, check, refused};

const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

pub struct Jwks {
    issuer: String,
    audience: String,
    url: String,
    http: reqwest::Client,
    /// `None` until first needed (a Lambda's cold start does not wait on the provider).
    keys: RwLock<Option<(JwkSet, Instant)>>,
}

impl Jwks {
    /// Keys are fetched when the first token comes.
    pub fn new(issuer: String, audience: String, url: String) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self { issuer, audience, url, http, keys: RwLock::new(None) })
    }

    /// Keys fetched now: a wrong URL stops `echome serve` at start, not at the first request.
    pub async fn fetch(issuer: String, audience: String, url: String) -> Result<Self, String> {
        let jwks = Self::new(issuer, audience, url)?;
        let keys = load(&jwks.http, &jwks.url).await?;
        *jwks.keys.write().await = Some((keys, Instant::now()));
        Ok(jwks)
    }

    /// `{issuer}/.well-known/jwks.json`, where Cognito and most OpenID providers publish keys.
    pub fn well_known(issuer: &str) -> String {
        format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let header = decode_header(token).map_err(|_| refused("it is not a well-formed signed JWT"))?;
        let kid = header.kid.ok_or_else(|| refused("its header names no key (kid)"))?;
        let jwk = self.keys.read().await.as_ref().and_then(|(set, _)| set.find(&kid).cloned());
        let jwk = match jwk {
            Some(k) => k,
            None => self.refresh(&kid).await?,
        };
        let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse().ok()).unwrap_or(header.alg);
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| refused("its key cannot be used"))?;
        check(token, &key, alg, &self.issuer, &self.audience)
    }

    async fn refresh(&self, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, AuthError> {
        let mut guard = self.keys.write().await;
        if guard.as_ref().is_none_or(|(_, at)| at.elapsed() >= REFRESH_AT_MOST_EVERY) {
            match load(&self.http, &self.url).await {
                Ok(set) => *guard = Some((set, Instant::now())),
                Err(e) => tracing::warn!(error = %e, "the JWKS could not be fetched"),
            }
        }
        guard
            .as_ref()
            .and_then(|(set, _)| set.find(kid).cloned())
            .ok_or_else(|| refused("its signature does not match a known key"))
    }
}

async fn load(http: &reqwest::Client, url: &str) -> Result<JwkSet, String> {
    let res = http.get(url).send().await.map_err(|e| format!("cannot fetch the JWKS {url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("the JWKS {url} answered {}", res.status()));
    }
    res.json::<JwkSet>().await.map_err(|e| format!("the JWKS {url} is not a key set: {e}"))
}
