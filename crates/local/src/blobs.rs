//! Blobs on the local filesystem: `{root}/{bucket}/{key}`, the layout an S3 bucket would have.
//! Writes go to a temporary file in the same folder and are renamed into place, so a reader
//! never sees half an object.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};

use echome_core::{BlobRef, BlobStore, StorageError};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file behind a blob. Keys that would leave the bucket's folder are refused.
    pub fn path_of(&self, blob: &BlobRef) -> Result<PathBuf, StorageError> {
        let bucket = Path::new(&blob.bucket);
        let key = Path::new(&blob.key);
        let plain =
            |p: &Path| !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain(bucket) || bucket.components().count() != 1 || !plain(key) {
            return Err(StorageError::Failed(format!("not a valid bucket and key: {blob}")));
        }
        Ok(self.root.join(bucket).join(key))
    }

    async fn write_atomically(&self, blob: &BlobRef, content: Content<'_>) -> Result<(), StorageError> {
        let dest = self.path_of(blob)?;
        let dir = dest.parent().ok_or_else(|| StorageError::Failed(format!("no folder for {blob}")))?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| failed(&format!("creating {}", dir.display()), e))?;
        let tmp = temp_name(&dest);
        let written = match content {
            Content::CopyOf(src) => tokio::fs::copy(src, &tmp)
                .await
                .map(drop)
                .map_err(|e| failed(&format!("reading {}", src.display()), e)),
            Content::Bytes(bytes) => {
                tokio::fs::write(&tmp, bytes).await.map_err(|e| failed(&format!("writing {blob}"), e))
            }
        };
        if let Err(e) = written {
            remove_quietly(&tmp).await;
            return Err(e);
        }
        if let Err(e) = tokio::fs::rename(&tmp, &dest).await {
            remove_quietly(&tmp).await;
            return Err(failed(&format!("storing {blob}"), e));
        }
        Ok(())
    }
}

/// What fills the temporary file.
enum Content<'a> {
    CopyOf(&'a Path),
    Bytes(Vec<u8>),
}

/// Every file in the folder tree (none when it is missing).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out
}

fn temp_name(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    dest.with_file_name(format!(".{name}.{}-{nanos}.part", std::process::id()))
}

async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        let path = echome_core::redact::phone_numbers(&path.display().to_string());
        tracing::warn!(path = %path, error = %e, "could not remove a temporary file");
    }
}

fn failed(context: &str, e: std::io::Error) -> StorageError {
    StorageError::Failed(format!("{context}: {e}"))
}

fn not_found_or(blob: &BlobRef, e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotFound(blob.to_string())
    } else {
        failed(&format!("reading {blob}"), e)
    }
}

impl BlobStore for FsBlobStore {
    async fn download_to(&self, blob: &BlobRef, dest: &Path) -> Result<u64, StorageError> {
        let src = self.path_of(blob)?;
        tokio::fs::copy(&src, dest).await.map_err(|e| not_found_or(blob, e))
    }

    async fn upload_from(&self, blob: &BlobRef, src: &Path, _content_type: &str) -> Result<(), StorageError> {
        self.write_atomically(blob, Content::CopyOf(src)).await
    }

    async fn read_range(&self, blob: &BlobRef, start: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let path = self.path_of(blob)?;
        let mut f = tokio::fs::File::open(&path).await.map_err(|e| not_found_or(blob, e))?;
        f.seek(SeekFrom::Start(start)).await.map_err(|e| failed(&format!("reading {blob}"), e))?;
        let mut out = Vec::with_capacity(len.min(64 << 20) as usize);
        f.take(len).read_to_end(&mut out).await.map_err(|e| failed(&format!("reading {blob}"), e))?;
        Ok(out)
    }

    async fn put_bytes(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        self.write_atomically(blob, Content::Bytes(bytes)).await
    }

    async fn get_bytes(&self, blob: &BlobRef) -> Result<Vec<u8>, StorageError> {
        let path = self.path_of(blob)?;
        tokio::fs::read(&path).await.map_err(|e| not_found_or(blob, e))
    }

    async fn move_to(&self, from: &BlobRef, to: &BlobRef) -> Result<bool, StorageError> {
        let (src, dest) = (self.path_of(from)?, self.path_of(to)?);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|e| not_found_or(to, e))?;
        }
        match tokio::fs::rename(&src, &dest).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(not_found_or(from, e)),
        }
    }

    /// The folder under the prefix, removed; a folder keeps no versions.
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, StorageError> {
        let Some(dir) = prefix.strip_suffix('/') else {
            return Err(StorageError::Failed(format!("deleting under {prefix:?}: a prefix ends in /")));
        };
        let path = self.path_of(&BlobRef::new(bucket, dir))?;
        let count = files_under(&path).len() as u64;
        match tokio::fs::remove_dir_all(&path).await {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(failed(&format!("deleting {}", path.display()), e)),
        }
    }

    async fn delete_versions(&self, blob: &BlobRef) -> Result<u64, StorageError> {
        match tokio::fs::remove_file(self.path_of(blob)?).await {
            Ok(()) => Ok(1),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(not_found_or(blob, e)),
        }
    }

    async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let root = self.root.join(bucket);
        // The folder the prefix names, or the one it ends in (`webhooks/3cx/2026-` lists `webhooks/3cx/`).
        let dir = match prefix.rsplit_once('/') {
            Some((dir, _)) => self.path_of(&BlobRef::new(bucket, dir))?,
            None => root.clone(),
        };
        let mut keys: Vec<String> = files_under(&dir)
            .into_iter()
            .filter_map(|f| f.strip_prefix(&root).ok().map(|k| k.to_string_lossy().replace('\\', "/")))
            // Not a write in progress (see `temp_name`).
            .filter(|k| {
                k.starts_with(prefix)
                    && !(k.rsplit('/').next().is_some_and(|n| n.starts_with('.') && n.ends_with(".part")))
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn download_url(
        &self,
        blob: &BlobRef,
        _valid_for: std::time::Duration,
    ) -> Result<String, StorageError> {
        let path = self.path_of(blob)?;
        let path = std::path::absolute(&path).map_err(|e| StorageError::Failed(format!("{blob}: {e}")))?;
        Ok(format!("file://{}", path.display()))
    }

    /// Nothing outside this machine writes here, and no event would follow a file copied in.
    async fn upload_url(
        &self,
        _blob: &BlobRef,
        _content_type: &str,
        _valid_for: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    async fn exists(&self, blob: &BlobRef) -> Result<bool, StorageError> {
        let path = self.path_of(blob)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(not_found_or(blob, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(key: &str) -> BlobRef {
        BlobRef::new("recordings", key)
    }

    #[tokio::test]
    async fn round_trips_files_bytes_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path());
        let src = dir.path().join("in.bin");
        std::fs::write(&src, (0u8..=255).collect::<Vec<_>>()).unwrap();
        store.upload_from(&blob("runs/r1/source.wav"), &src, "audio/wav").await.unwrap();
        assert_eq!(
            store.read_range(&blob("runs/r1/source.wav"), 250, 100).await.unwrap(),
            vec![250, 251, 252, 253, 254, 255]
        );
        let out = dir.path().join("out.bin");
        assert_eq!(store.download_to(&blob("runs/r1/source.wav"), &out).await.unwrap(), 256);
        store.put_bytes(&blob("runs/r1/report.json"), b"{}".to_vec(), "application/json").await.unwrap();
        assert_eq!(store.get_bytes(&blob("runs/r1/report.json")).await.unwrap(), b"{}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("recordings/runs/r1"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn a_missing_object_is_not_found_and_escaping_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path());
        assert!(matches!(store.get_bytes(&blob("nope")).await, Err(StorageError::NotFound(_))));
        assert!(matches!(store.read_range(&blob("nope"), 0, 1).await, Err(StorageError::NotFound(_))));
        for key in ["../etc/passwd", "/abs", "a/../../b", ""] {
            assert!(store.get_bytes(&blob(key)).await.is_err(), "{key}");
        }
        assert!(store.get_bytes(&BlobRef::new("..", "x")).await.is_err());
    }
}
