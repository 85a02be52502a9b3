//! A sample from a URL someone names: the URL checked by the fence, resolved by yt-dlp through
//! the fenced proxy, its length checked before a byte of media is downloaded, then only its
//! audio downloaded, under the policy's size and time limits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proxy::FencedProxy;
use crate::ytdlp::{MediaInfo, SourceError, SourceErrorKind, YtDlp};
use crate::{FetchError, Fetcher};

/// What was downloaded, and what the source says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub file: PathBuf,
    pub bytes: u64,
    pub title: Option<String>,
    /// As the site declares it (a plain page's `<audio>` declares none: the file is measured
    /// by whoever decodes it).
    pub duration_s: Option<f64>,
    /// yt-dlp's extractor: `youtube`, `html5`, `generic` (a direct media link).
    pub extractor: Option<String>,
}

/// Downloads the audio at `url` into `dir`; `max_duration` refuses a longer source before it is
/// downloaded (when the site says how long it is).
pub async fn fetch_media(
    fetcher: &Fetcher,
    ytdlp: &YtDlp,
    url: &str,
    dir: &Path,
    max_duration: Duration,
) -> Result<Media, SourceError> {
    // Refused at once when the URL itself is (scheme, host, its addresses): nothing runs.
    fetcher.vet(url).await.map_err(SourceError::from_fetch)?;
    let policy = fetcher.policy();
    let proxy = FencedProxy::start(fetcher.clone())
        .await
        .map_err(|e| SourceError::new(SourceErrorKind::Failed, format!("the fenced proxy: {e}")))?;
    let info_json = dir.join("info.json");
    let result = async {
        let info = ytdlp.resolve(url, &proxy.url(), policy.timeout, &info_json).await?;
        check(&info, max_duration)?;
        let file = ytdlp.download(&info_json, &proxy.url(), policy.timeout, dir, policy.max_bytes).await?;
        Ok::<_, SourceError>((info, file))
    }
    .await;
    if let Err(e) = tokio::fs::remove_file(&info_json).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "yt-dlp's answer stays in the scratch folder");
    }
    // yt-dlp only sees a 403 from the proxy: the fence's own reason is the one to tell.
    let (info, file) = match (result, proxy.first_refusal()) {
        (Ok(done), None) => done,
        (Err(e), None) => {
            remove_partial(dir).await;
            return Err(e);
        }
        (_, Some(refusal)) => {
            remove_partial(dir).await;
            return Err(SourceError::from_fetch(refusal));
        }
    };
    let bytes = tokio::fs::metadata(&file)
        .await
        .map_err(|e| SourceError::new(SourceErrorKind::Failed, format!("{}: {e}", file.display())))?
        .len();
    if bytes > policy.max_bytes {
        remove_partial(dir).await;
        return Err(SourceError::from_fetch(FetchError::TooLarge { limit: policy.max_bytes }));
    }
    Ok(Media { file, bytes, title: info.title, duration_s: info.duration, extractor: info.extractor })
}

/// What a failed download left (`media.*`, its `.part`): the caller's folder stays as it was.
async fn remove_partial(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_string_lossy().starts_with("media.")
            && let Err(e) = tokio::fs::remove_file(entry.path()).await
        {
            tracing::warn!(error = %e, "a partial download stays in the scratch folder");
        }
    }
}

/// A live stream never ends, a list is many people's voices, a long source would be
/// downloaded only to be cut.
fn check(info: &MediaInfo, max_duration: Duration) -> Result<(), SourceError> {
    if info.is_live == Some(true) {
        return Err(SourceError::new(SourceErrorKind::Live, "the source is a live stream"));
    }
    if matches!(info.kind.as_deref(), Some("playlist" | "multi_video")) {
        return Err(SourceError::new(SourceErrorKind::Playlist, "the URL names a list, not one recording"));
    }
    if let Some(d) = info.duration
        && d > max_duration.as_secs_f64()
    {
        let message =
            format!("the source is {:.0} s long; at most {} s are taken", d, max_duration.as_secs());
        return Err(SourceError::new(SourceErrorKind::TooLong, message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(duration: Option<f64>, is_live: Option<bool>, kind: Option<&str>) -> MediaInfo {
        MediaInfo { duration, is_live, kind: kind.map(str::to_owned), ..MediaInfo::default() }
    }

    #[test]
    fn live_lists_and_long_sources_are_refused_before_downloading() {
        let hour = Duration::from_secs(3600);
        assert!(check(&info(Some(1800.0), Some(false), Some("video")), hour).is_ok());
        assert!(check(&info(None, None, None), hour).is_ok(), "a page that declares no length");
        for (i, code) in [
            (info(Some(3601.0), None, None), "source_too_long"),
            (info(None, Some(true), None), "source_live"),
            (info(None, None, Some("playlist")), "source_playlist"),
        ] {
            let e = check(&i, hour).unwrap_err();
            assert_eq!(e.code(), code, "{e}");
            assert!(!e.is_transient() && !e.what_to_do().is_empty());
        }
    }
}
