//! yt-dlp, run as a program, resolves a page (YouTube, the other sites it knows, or any page
//! with an `<audio>`/`<video>` its generic extractor reads) or a direct media link to its
//! audio, and downloads only that, as it is (no transcoding: the clone run decodes it). Every
//! request it makes goes through the [`FencedProxy`](crate::proxy::FencedProxy) it is given,
//! so the fence's rules hold for the page, its redirects and the media host alike.
//!
//! Its errors are told apart by what it prints (`ERROR: …`), each given a stable code and what
//! to do instead; the wording matched is yt-dlp's own, as its extractors raise it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use crate::FetchError;

/// How yt-dlp is started: `YT_DLP` (a command line: `yt-dlp`, or `python3 -m yt_dlp`), else
/// `yt-dlp` on the PATH.
#[derive(Debug, Clone)]
pub struct YtDlp {
    program: String,
    args: Vec<String>,
}

impl YtDlp {
    pub fn new(command: &str) -> Result<Self, String> {
        let mut words = command.split_whitespace().map(str::to_owned);
        let program = words.next().ok_or("YT_DLP is empty: name the yt-dlp command")?;
        Ok(Self { program, args: words.collect() })
    }

    pub fn from_env() -> Result<Self, String> {
        Self::new(&std::env::var("YT_DLP").unwrap_or_else(|_| "yt-dlp".into()))
    }

    /// What the URL holds, without downloading it: its title, duration and whether it is
    /// live, and yt-dlp's whole answer (kept in `info_json` for [`Self::download`], so the
    /// page is not read twice).
    pub async fn resolve(
        &self,
        url: &str,
        proxy: &str,
        timeout: Duration,
        info_json: &Path,
    ) -> Result<MediaInfo, SourceError> {
        let mut cmd = self.command(proxy, timeout);
        cmd.args(["--dump-single-json", "--", url]);
        let out = run(cmd, timeout).await?;
        let info: MediaInfo = serde_json::from_slice(&out.stdout)
            .map_err(|e| SourceError::new(SourceErrorKind::Failed, format!("yt-dlp's answer: {e}")))?;
        tokio::fs::write(info_json, &out.stdout).await.map_err(|e| {
            SourceError::new(SourceErrorKind::Failed, format!("{}: {e}", info_json.display()))
        })?;
        Ok(info)
    }

    /// Downloads the best audio-only format (else the best with audio) of what
    /// [`Self::resolve`] found into `dir`, at most `max_bytes`; returns the file.
    pub async fn download(
        &self,
        info_json: &Path,
        proxy: &str,
        timeout: Duration,
        dir: &Path,
        max_bytes: u64,
    ) -> Result<PathBuf, SourceError> {
        let template = dir.join("media.%(ext)s");
        let mut cmd = self.command(proxy, timeout);
        // Its own downloader only: an external one (ffmpeg for HLS, say) would make its own
        // connections, outside the proxy. No fixup either: the file is kept as served.
        cmd.args(["--downloader", "native", "--fixup", "never"])
            .args(["--format", "bestaudio/best[acodec!=none]/best", "--max-filesize"])
            .arg(max_bytes.to_string())
            .args(["--no-part", "--no-mtime", "--print", "after_move:filepath", "--output"])
            .arg(&template)
            .arg("--load-info-json")
            .arg(info_json);
        let out = run(cmd, timeout).await?;
        let printed = String::from_utf8_lossy(&out.stdout);
        let path = printed.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(PathBuf::from);
        match path.filter(|p| p.is_file()) {
            Some(p) => Ok(p),
            // yt-dlp gives up on a file over --max-filesize with a notice, not an error.
            None if String::from_utf8_lossy(&out.stderr).contains("larger than max-filesize")
                || printed.contains("larger than max-filesize") =>
            {
                Err(SourceError::new(SourceErrorKind::TooLarge, format!("larger than {max_bytes} bytes")))
            }
            None => Err(SourceError::new(SourceErrorKind::NotMedia, "yt-dlp downloaded nothing")),
        }
    }

    /// The options every run takes: no configuration or cache of the machine's (Lambda's home
    /// is read-only), every request through the fenced proxy, quiet but for errors.
    fn command(&self, proxy: &str, timeout: Duration) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .args(["--ignore-config", "--no-cache-dir", "--no-playlist", "--no-warnings", "--quiet"])
            .args(["--no-progress", "--proxy", proxy, "--socket-timeout"])
            .arg(timeout.as_secs().clamp(5, 60).to_string())
            // A proxy variable would not bypass --proxy, but NO_PROXY could exempt a host from it.
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }
}

async fn run(
    mut cmd: tokio::process::Command,
    timeout: Duration,
) -> Result<std::process::Output, SourceError> {
    let child = cmd.spawn().map_err(|e| {
        SourceError::new(
            SourceErrorKind::Unavailable,
            format!("yt-dlp cannot be started ({e}): install it, or set YT_DLP to its command"),
        )
        .tool_missing()
    })?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(SourceError::new(SourceErrorKind::Failed, format!("yt-dlp: {e}"))),
        Err(_) => return Err(SourceError::from_fetch(FetchError::Timeout(timeout))),
    };
    if out.status.success() {
        return Ok(out);
    }
    Err(classify(&String::from_utf8_lossy(&out.stderr)))
}

/// What yt-dlp said of the URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MediaInfo {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub is_live: Option<bool>,
    #[serde(default)]
    pub extractor: Option<String>,
    #[serde(default)]
    pub webpage_url: Option<String>,
    /// `playlist` when the URL names a list (it is refused: one person's sample is one source).
    #[serde(default, rename = "_type")]
    pub kind: Option<String>,
}

/// Why a source gave no sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The site asks for a sign-in to prove a human is watching (YouTube's bot check), or
    /// refuses the request.
    Blocked,
    AgeRestricted,
    GeoBlocked,
    Private,
    /// Removed, deleted, never there.
    Unavailable,
    /// A page yt-dlp finds no audio or video on.
    NotMedia,
    Live,
    Playlist,
    TooLong,
    TooLarge,
    /// The fence refused a connection (its own code is kept in `fence`).
    Refused,
    /// A slow or failing site: worth trying again.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub message: String,
    /// The fence's refusal or failure, when that is what it was.
    pub fence: Option<FetchError>,
    missing_tool: bool,
}

impl SourceError {
    pub fn new(kind: SourceErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), fence: None, missing_tool: false }
    }

    fn tool_missing(mut self) -> Self {
        self.missing_tool = true;
        self
    }

    /// A refusal or failure of the fence, told as the fence tells it.
    pub fn from_fetch(e: FetchError) -> Self {
        let kind = match &e {
            FetchError::TooLarge { .. } => SourceErrorKind::TooLarge,
            e if e.is_transient() => SourceErrorKind::Failed,
            FetchError::Status(404 | 410) => SourceErrorKind::Unavailable,
            FetchError::Status(_) => SourceErrorKind::Blocked,
            _ => SourceErrorKind::Refused,
        };
        Self { kind, message: e.to_string(), fence: Some(e), missing_tool: false }
    }

    /// The stable name recorded with the sample request.
    pub fn code(&self) -> &'static str {
        if self.missing_tool {
            return "downloader_missing";
        }
        match self.kind {
            SourceErrorKind::Blocked => "source_blocked",
            SourceErrorKind::AgeRestricted => "source_age_restricted",
            SourceErrorKind::GeoBlocked => "source_geo_blocked",
            SourceErrorKind::Private => "source_private",
            SourceErrorKind::Unavailable => "source_unavailable",
            SourceErrorKind::NotMedia => "source_not_media",
            SourceErrorKind::Live => "source_live",
            SourceErrorKind::Playlist => "source_playlist",
            SourceErrorKind::TooLong => "source_too_long",
            SourceErrorKind::TooLarge => "source_too_large",
            SourceErrorKind::Refused => self.fence.as_ref().map_or("source_refused", FetchError::code),
            SourceErrorKind::Failed => "source_failed",
        }
    }

    /// What the person asking can do instead.
    pub fn what_to_do(&self) -> &'static str {
        if self.missing_tool {
            return "yt-dlp is not installed where the fetch runs; install it (pip install yt-dlp) or set YT_DLP";
        }
        match self.kind {
            SourceErrorKind::Blocked
            | SourceErrorKind::AgeRestricted
            | SourceErrorKind::GeoBlocked
            | SourceErrorKind::Private => {
                "the site does not let echome download it: download the recording yourself and upload the file (POST /people/{person}/samples with file_name)"
            }
            SourceErrorKind::Unavailable => "check the link: the site says it is not there",
            SourceErrorKind::NotMedia => "link the page of one video or recording, or the media file itself",
            SourceErrorKind::Live => "wait until the stream has ended and link its recording",
            SourceErrorKind::Playlist => "link one video of the list",
            SourceErrorKind::TooLong | SourceErrorKind::TooLarge => {
                "cut the part where the person speaks and upload that file"
            }
            SourceErrorKind::Refused => {
                "echome fetches only from public addresses (FETCH_ALLOWED_NETWORKS names others): upload the file instead"
            }
            SourceErrorKind::Failed => "the site failed; echome tries again, or upload the file instead",
        }
    }

    /// The downloader is not installed where this runs: echome's own set-up is wrong, not the
    /// source, so the request is kept for when it is mended.
    pub fn is_setup(&self) -> bool {
        self.missing_tool
    }

    /// Worth trying again later.
    pub fn is_transient(&self) -> bool {
        self.kind == SourceErrorKind::Failed
    }
}

/// Tells yt-dlp's failure apart by its `ERROR:` line (the last one, where it says why).
pub fn classify(stderr: &str) -> SourceError {
    let line = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with("ERROR:"))
        .or_else(|| stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("yt-dlp failed without saying why");
    let message: String = line.trim_start_matches("ERROR:").trim().chars().take(400).collect();
    let low = message.to_lowercase().replace('\u{2019}', "'");
    let has = |needles: &[&str]| needles.iter().any(|n| low.contains(n));
    let kind = if has(&["not a bot", "confirm you're not a robot", "captcha"]) {
        SourceErrorKind::Blocked
    } else if has(&["confirm your age", "age-restricted", "age restricted", "inappropriate for some users"]) {
        SourceErrorKind::AgeRestricted
    } else if has(&["geo restriction", "in your country", "from your location", "geo-restricted"]) {
        SourceErrorKind::GeoBlocked
    } else if has(&["private video", "video is private", "granted access"]) {
        SourceErrorKind::Private
    } else if has(&["unsupported url", "no video formats found", "requested format is not available"]) {
        SourceErrorKind::NotMedia
    } else if has(&[
        "video unavailable",
        "has been removed",
        "no longer available",
        "is unavailable",
        "does not exist",
        "http error 404",
        "http error 410",
    ]) {
        SourceErrorKind::Unavailable
    } else if has(&[
        "sign in",
        "log in",
        "login required",
        "registered users",
        "--cookies",
        "http error 403",
        "http error 401",
        "http error 429",
    ]) {
        SourceErrorKind::Blocked
    } else {
        SourceErrorKind::Failed
    };
    SourceError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines yt-dlp prints for YouTube's refusals (youtube/_video.py, common.py) and for
    /// the generic extractor's, each to its code.
    #[test]
    fn each_refusal_gets_its_own_code() {
        let cases = [
            (
                "ERROR: [youtube] dQw4w9WgXcQ: Sign in to confirm you\u{2019}re not a bot. Use --cookies-from-browser or --cookies for the authentication.",
                "source_blocked",
            ),
            (
                "ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate for some users. Use --cookies",
                "source_age_restricted",
            ),
            (
                "ERROR: [youtube] abc: The uploader has not made this video available in your country",
                "source_geo_blocked",
            ),
            (
                "ERROR: [youtube] abc: Private video. Sign in if you've been granted access to this video",
                "source_private",
            ),
            (
                "ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader",
                "source_unavailable",
            ),
            ("ERROR: Unsupported URL: https://example.com/about", "source_not_media"),
            (
                "ERROR: [generic] missing: Unable to download webpage: HTTP Error 404: File not found (caused by <HTTPError 404: File not found>)",
                "source_unavailable",
            ),
            (
                "ERROR: [generic] x: Unable to download webpage: HTTP Error 503: Service Unavailable",
                "source_failed",
            ),
            (
                "WARNING: something\nERROR: [vimeo] 1: This video is only available for registered users",
                "source_blocked",
            ),
        ];
        for (stderr, code) in cases {
            let e = classify(stderr);
            assert_eq!(e.code(), code, "{stderr}");
            assert!(!e.message.starts_with("ERROR"), "{}", e.message);
            assert!(!e.what_to_do().is_empty());
        }
        assert!(classify("ERROR: [generic] x: Unable to download webpage: HTTP Error 503").is_transient());
        assert!(!classify("ERROR: Unsupported URL: https://example.com/").is_transient());
    }

    #[test]
    fn a_refusal_of_the_fence_keeps_its_code() {
        let e =
            SourceError::from_fetch(FetchError::AddressRefused { host: "h".into(), why: "private".into() });
        assert_eq!((e.code(), e.is_transient()), ("address_refused", false));
        assert_eq!(SourceError::from_fetch(FetchError::TooLarge { limit: 5 }).code(), "source_too_large");
        assert!(SourceError::from_fetch(FetchError::Timeout(Duration::from_secs(1))).is_transient());
    }

    #[test]
    fn the_command_is_read_as_words() {
        let y = YtDlp::new("python3 -m yt_dlp").unwrap();
        assert_eq!(
            (y.program.as_str(), y.args.as_slice()),
            ("python3", &["-m".to_owned(), "yt_dlp".to_owned()][..])
        );
        assert!(YtDlp::new("  ").is_err());
    }
}
