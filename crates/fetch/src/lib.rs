//! Fetching a URL someone else supplied (a PBX's recording link; later, a job's callback) is a
//! server-side request made with the function's network position, so it is fenced in:
//! - https only, to a host on the allow-list (`FETCH_ALLOWED_HOSTS`: the PBX's name);
//! - the host is resolved once, every address checked ([`networks::check`]) and the connection
//!   made to those checked addresses only, so a second, different DNS answer (rebinding) is
//!   never used; private, loopback, link-local and metadata addresses are refused unless
//!   inside `FETCH_ALLOWED_NETWORKS`, and plain http is allowed only to those networks;
//! - no redirect to another host (nor from https down to http);
//! - at most `FETCH_MAX_BYTES`, within `FETCH_TIMEOUT`, streamed to a file.

pub mod media;
pub mod networks;
pub mod proxy;
pub mod ytdlp;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::{Url, redirect};
use tokio::io::AsyncWriteExt;

/// What a fetch may do.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Host names (or addresses) a URL may name, compared case-insensitively; `*.example.com`
    /// allows the names under it.
    pub allowed_hosts: Vec<String>,
    pub allowed_networks: Vec<IpNet>,
    pub max_bytes: u64,
    pub timeout: Duration,
}

/// A call recording is minutes of audio: 500 MB holds hours of WAV.
pub const DEFAULT_MAX_BYTES: u64 = 500 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// A page's audio track: an hour of a talk is ~60 MB of Opus; a video fallback more.
pub const URL_SAMPLE_MAX_BYTES: u64 = 200 * 1024 * 1024;
pub const URL_SAMPLE_TIMEOUT: Duration = Duration::from_secs(300);

impl FetchPolicy {
    /// `FETCH_ALLOWED_HOSTS` (comma-separated; empty: nothing may be fetched),
    /// `FETCH_ALLOWED_NETWORKS` (CIDRs; empty by default), `FETCH_MAX_BYTES`, `FETCH_TIMEOUT`
    /// (`120s`, with a unit).
    pub fn from_env() -> Result<Self, String> {
        let hosts = std::env::var("FETCH_ALLOWED_HOSTS").unwrap_or_default();
        Self::read("FETCH_MAX_BYTES", DEFAULT_MAX_BYTES, "FETCH_TIMEOUT", DEFAULT_TIMEOUT, &hosts)
    }

    /// A sample from a URL someone names (a video page, a media link): any public host unless
    /// `SAMPLE_URL_ALLOWED_HOSTS` narrows it (`*` by default), the same `FETCH_ALLOWED_NETWORKS`,
    /// `SAMPLE_URL_MAX_BYTES` (200 MB) and `SAMPLE_URL_TIMEOUT` (300 s).
    pub fn for_url_samples() -> Result<Self, String> {
        let hosts = std::env::var("SAMPLE_URL_ALLOWED_HOSTS").unwrap_or_else(|_| "*".into());
        Self::read(
            "SAMPLE_URL_MAX_BYTES",
            URL_SAMPLE_MAX_BYTES,
            "SAMPLE_URL_TIMEOUT",
            URL_SAMPLE_TIMEOUT,
            &hosts,
        )
    }

    fn read(
        bytes_var: &str,
        default_bytes: u64,
        timeout_var: &str,
        default_timeout: Duration,
        hosts: &str,
    ) -> Result<Self, String> {
        let networks = std::env::var("FETCH_ALLOWED_NETWORKS").unwrap_or_default();
        let max_bytes =
            echome_core::env::parsed::<u64>(bytes_var, "a number of bytes")?.unwrap_or(default_bytes);
        let timeout = echome_core::env::std_duration(timeout_var)?.unwrap_or(default_timeout);
        Ok(Self {
            allowed_hosts: hosts
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            allowed_networks: networks::parse_networks(&networks)
                .map_err(|e| format!("FETCH_ALLOWED_NETWORKS: {e}"))?,
            max_bytes,
            timeout,
        })
    }

    /// `*` allows every host name (the addresses are still checked).
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.iter().any(|allowed| match allowed.strip_prefix("*.") {
            _ if allowed == "*" => true,
            Some(parent) => host.ends_with(&format!(".{parent}")),
            None => *allowed == host,
        })
    }
}

/// How the fetch authenticates to the host (the PBX's recording download; read from SSM).
#[derive(Clone)]
pub enum Credentials {
    Basic { user: String, password: String },
    Bearer(String),
}

impl Credentials {
    /// `Bearer TOKEN`, or `user:password` for basic authentication (the form the SSM parameter
    /// holds). The error never quotes the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(token) = text.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) {
            return Ok(Self::Bearer(token.to_owned()));
        }
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok(Self::Basic { user: user.to_owned(), password: password.to_owned() })
            }
            _ => Err("recording credentials must be `Bearer TOKEN` or `user:password`".into()),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Basic { .. } => "Basic(…)",
            Self::Bearer(_) => "Bearer(…)",
        })
    }
}

/// Why a fetch was refused or failed; what a user sent is named (without credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("not a URL: {0}")]
    Url(String),
    #[error("{0}: only https (or plain http to FETCH_ALLOWED_NETWORKS) may be fetched")]
    Scheme(String),
    #[error("host {0} is not in FETCH_ALLOWED_HOSTS")]
    HostNotAllowed(String),
    #[error("{host} cannot be fetched: {why}")]
    AddressRefused { host: String, why: String },
    #[error("host {0} did not resolve: {1}")]
    Resolve(String, String),
    #[error("a redirect from {from} to {to} was refused: it leaves the host (or https)")]
    Redirect { from: String, to: String },
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no answer within {0:?} (FETCH_TIMEOUT)")]
    Timeout(Duration),
    #[error("the host answered {0}")]
    Status(u16),
    #[error("the fetch failed: {0}")]
    Failed(String),
}

impl FetchError {
    /// A stable name for the refusal or failure, recorded with it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Url(_) => "bad_url",
            Self::Scheme(_) => "scheme_not_allowed",
            Self::HostNotAllowed(_) => "host_not_allowed",
            Self::AddressRefused { .. } => "address_refused",
            Self::Resolve(..) => "host_unresolved",
            Self::Redirect { .. } => "redirect_refused",
            Self::TooLarge { .. } => "too_large",
            Self::Timeout(_) => "timeout",
            Self::Status(_) => "source_status",
            Self::Failed(_) => "fetch_failed",
        }
    }

    /// Worth trying again later: the host was slow or failed, not a refusal of the request.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::Resolve(..) | Self::Failed(_))
            || matches!(self, Self::Status(s) if *s == 429 || *s >= 500)
    }
}

/// What was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: u64,
    pub content_type: Option<String>,
    /// Where the body came from, after redirects on the same host.
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Fetcher {
    policy: FetchPolicy,
    /// Extra roots to trust (a test server's, an on-premises PBX's own CA), beside the built-in ones.
    roots: Vec<reqwest::Certificate>,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        Self { policy, roots: Vec::new() }
    }

    pub fn with_root(mut self, pem: &[u8]) -> Result<Self, FetchError> {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| FetchError::Failed(format!("a root certificate: {e}")))?;
        self.roots.push(cert);
        Ok(self)
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Checks `raw` against the policy and resolves its host: the URL and the addresses a
    /// connection may use.
    pub async fn vet(&self, raw: &str) -> Result<(Url, Vec<SocketAddr>), FetchError> {
        let url = Url::parse(raw).map_err(|e| FetchError::Url(format!("{e}")))?;
        let plain_http = match url.scheme() {
            "https" => false,
            "http" => true,
            other => return Err(FetchError::Scheme(other.to_owned())),
        };
        let host = url.host_str().ok_or_else(|| FetchError::Url("a URL without a host".into()))?.to_owned();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Url(
                "credentials in the URL are not sent; configure them instead".into(),
            ));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = self.vet_host(&host, port, plain_http).await?;
        Ok((url, addrs))
    }

    /// Checks a host (a name, an address, or `[v6]`) and resolves it: the addresses a
    /// connection to it may use. Shared by [`Self::vet`] and the [`proxy`]'s tunnels.
    pub async fn vet_host(
        &self,
        host: &str,
        port: u16,
        plain_http: bool,
    ) -> Result<Vec<SocketAddr>, FetchError> {
        let host = host.to_owned();
        if !self.policy.allows_host(&host) {
            return Err(FetchError::HostNotAllowed(host));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| FetchError::Resolve(host.clone(), e.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(FetchError::Resolve(host, "no addresses".into()));
        }
        // Every address must pass: a name with one public and one private address is refused.
        for a in &addrs {
            networks::check(a.ip(), &self.policy.allowed_networks, plain_http)
                .map_err(|why| FetchError::AddressRefused { host: host.clone(), why })?;
        }
        Ok(addrs)
    }

    /// Streams the body at `raw` into `dest` (removed again when the fetch fails).
    pub async fn fetch_to(
        &self,
        raw: &str,
        auth: Option<&Credentials>,
        dest: &Path,
    ) -> Result<Fetched, FetchError> {
        let result = tokio::time::timeout(self.policy.timeout, self.fetch_inner(raw, auth, dest)).await;
        let result = result.unwrap_or(Err(FetchError::Timeout(self.policy.timeout)));
        if result.is_err()
            && let Err(e) = tokio::fs::remove_file(dest).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %dest.display(), error = %e, "a failed fetch's partial file stays");
        }
        result
    }

    async fn fetch_inner(
        &self,
        raw: &str,
        auth: Option<&Credentials>,
        dest: &Path,
    ) -> Result<Fetched, FetchError> {
        let (url, addrs) = self.vet(raw).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let start = url.clone();
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(self.policy.timeout)
            .redirect(redirect::Policy::custom(move |attempt| {
                let to = attempt.url();
                let same_host = to.host_str() == start.host_str()
                    && to.port_or_known_default() == start.port_or_known_default();
                let no_downgrade = !(start.scheme() == "https" && to.scheme() != "https");
                if !same_host || !no_downgrade {
                    let err = FetchError::Redirect { from: start.to_string(), to: to.to_string() };
                    attempt.error(err)
                } else if attempt.previous().len() >= 5 {
                    attempt.error(FetchError::Failed("more than 5 redirects".into()))
                } else {
                    attempt.follow()
                }
            }));
        // The checked addresses, and no other: the name is not looked up again.
        if url.host_str().is_some_and(|h| h.parse::<IpAddr>().is_err() && !h.starts_with('[')) {
            builder = builder.resolve_to_addrs(&host, &addrs);
        }
        for root in &self.roots {
            builder = builder.tls_certs_merge([root.clone()]);
        }
        let client = builder.build().map_err(|e| FetchError::Failed(e.to_string()))?;
        let mut req = client.get(url.clone());
        req = match auth {
            Some(Credentials::Basic { user, password }) => req.basic_auth(user, Some(password)),
            Some(Credentials::Bearer(token)) => req.bearer_auth(token),
            None => req,
        };
        let mut res = req.send().await.map_err(|e| sent_error(e, self.policy.timeout))?;
        if !res.status().is_success() {
            return Err(FetchError::Status(res.status().as_u16()));
        }
        let limit = self.policy.max_bytes;
        if res.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type =
            res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let final_url = res.url().to_string();
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| FetchError::Failed(format!("{}: {e}", dest.display())))?;
        let mut bytes = 0u64;
        while let Some(chunk) = res.chunk().await.map_err(|e| sent_error(e, self.policy.timeout))? {
            bytes += chunk.len() as u64;
            if bytes > limit {
                return Err(FetchError::TooLarge { limit });
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| FetchError::Failed(format!("{}: {e}", dest.display())))?;
        }
        file.flush().await.map_err(|e| FetchError::Failed(format!("{}: {e}", dest.display())))?;
        Ok(Fetched { bytes, content_type, url: final_url })
    }
}

/// reqwest's error, with a refused redirect told as such.
fn sent_error(e: reqwest::Error, timeout: Duration) -> FetchError {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(ours) = s.downcast_ref::<FetchError>() {
            return ours.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return FetchError::Timeout(timeout);
    }
    // Without the URL (it may carry a signed token in its query), with its causes: "error
    // sending request" alone does not say that the certificate was refused.
    let mut causes = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        causes.push(c.to_string());
        cause = c.source();
    }
    let mut message = e.without_url().to_string();
    for text in causes {
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
    }
    FetchError::Failed(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], networks: &str) -> FetchPolicy {
        FetchPolicy {
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            allowed_networks: networks::parse_networks(networks).unwrap(),
            max_bytes: 1000,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn credentials_are_read_without_being_shown() {
        assert!(matches!(Credentials::parse("Bearer abc"), Ok(Credentials::Bearer(t)) if t == "abc"));
        let basic = Credentials::parse("rec:pa:ss").unwrap();
        assert!(
            matches!(&basic, Credentials::Basic { user, password } if user == "rec" && password == "pa:ss")
        );
        assert!(!format!("{basic:?}").contains("pa:ss"));
        // One message for every bad text: none of it is quoted back.
        for bad in ["", "Bearer ", "nouser-s3cret", ":pw-s3cret", "user-s3cret:"] {
            let e = Credentials::parse(bad).unwrap_err();
            assert_eq!(e, "recording credentials must be `Bearer TOKEN` or `user:password`");
        }
    }

    #[tokio::test]
    async fn only_allowed_hosts_schemes_and_addresses_pass() {
        let f = Fetcher::new(policy(&["pbx.example.com", "*.calls.example.net", "127.0.0.1"], ""));
        let err = |raw: &'static str| {
            let f = f.clone();
            async move { f.vet(raw).await.unwrap_err() }
        };
        assert_eq!(err("ftp://pbx.example.com/a.wav").await, FetchError::Scheme("ftp".into()));
        assert_eq!(
            err("https://evil.example.com/a.wav").await,
            FetchError::HostNotAllowed("evil.example.com".into())
        );
        assert_eq!(
            err("https://calls.example.net/a").await,
            FetchError::HostNotAllowed("calls.example.net".into())
        );
        assert!(matches!(err("https://127.0.0.1/a.wav").await, FetchError::AddressRefused { .. }));
        assert!(matches!(err("https://user:pw@pbx.example.com/a").await, FetchError::Url(_)));
        assert!(matches!(err("not a url").await, FetchError::Url(_)));
        assert!(f.policy.allows_host("PBX.example.com.") && f.policy.allows_host("a.calls.example.net"));
        let nothing = Fetcher::new(policy(&[], ""));
        assert!(matches!(nothing.vet("https://pbx.example.com/").await, Err(FetchError::HostNotAllowed(_))));
    }
}
