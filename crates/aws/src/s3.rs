//! The blob store on S3. Objects stream between S3 and local files; only ranges and small
//! objects (reports) are held in memory.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use echome_core::{BlobRef, BlobStore, StorageError};
use tokio::io::AsyncWriteExt;

use crate::errors::storage_error;

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
}

impl S3BlobStore {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        // Look-alikes on a custom endpoint (moto, LocalStack) serve buckets by path only.
        let path_style = sdk.endpoint_url().is_some();
        let conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build();
        Self { client: Client::from_conf(conf) }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The object, or `range` (`bytes=a-b`) of it, as a stream.
    async fn get(
        &self,
        blob: &BlobRef,
        range: Option<String>,
        what: &str,
    ) -> Result<ByteStream, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .set_range(range)
            .send()
            .await
            .map_err(|e| storage_error(&blob.to_string(), what, e))?;
        Ok(out.body)
    }

    /// A whole (small) stream in memory; a connection dropped halfway is worth another try.
    async fn collect(blob: &BlobRef, body: ByteStream) -> Result<Vec<u8>, StorageError> {
        let bytes =
            body.collect().await.map_err(|e| StorageError::Transient(format!("reading {blob}: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }
}

impl S3BlobStore {
    /// Deletes each version and delete marker listed under `prefix` whose key `keep` accepts
    /// (`ListObjectVersions`, then `DeleteObject` with the version: a versioned bucket keeps
    /// a plain delete's object as a noncurrent version).
    async fn delete_listed(
        &self,
        bucket: &str,
        prefix: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<u64, StorageError> {
        let subject = format!("{bucket}/{prefix}");
        let mut deleted = 0;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .prefix(prefix)
                .send()
                .await
                .map_err(|e| storage_error(&subject, "listing the versions of", e))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let found: Vec<(String, Option<String>)> = versions
                .chain(markers)
                .filter_map(|(k, v)| Some((k?.to_owned(), v.map(str::to_owned))))
                .filter(|(k, _)| keep(k))
                .collect();
            if found.is_empty() {
                return Ok(deleted);
            }
            for (key, version) in found {
                self.client
                    .delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .set_version_id(version)
                    .send()
                    .await
                    .map_err(|e| storage_error(&subject, "deleting a version under", e))?;
                deleted += 1;
            }
            // Listed again from the start: what was deleted no longer shows.
        }
    }
}

fn io_error(blob: &BlobRef, what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Failed(format!("{what} {blob}: {e}"))
}

/// A presigned request's lifetime (S3 takes at most 7 days; a role's session ends sooner).
fn presigning(
    blob: &BlobRef,
    valid_for: std::time::Duration,
) -> Result<aws_sdk_s3::presigning::PresigningConfig, StorageError> {
    aws_sdk_s3::presigning::PresigningConfig::expires_in(valid_for)
        .map_err(|e| StorageError::Failed(format!("presigning {blob}: {e}")))
}

impl BlobStore for S3BlobStore {
    async fn download_to(&self, blob: &BlobRef, dest: &Path) -> Result<u64, StorageError> {
        let mut body = self.get(blob, None, "downloading").await?.into_async_read();
        let mut file =
            tokio::fs::File::create(dest).await.map_err(|e| io_error(blob, "creating a file for", e))?;
        // A connection dropped halfway through is worth another try.
        let n = tokio::io::copy(&mut body, &mut file)
            .await
            .map_err(|e| StorageError::Transient(format!("downloading {blob}: {e}")))?;
        file.flush().await.map_err(|e| io_error(blob, "writing", e))?;
        Ok(n)
    }

    async fn upload_from(&self, blob: &BlobRef, src: &Path, content_type: &str) -> Result<(), StorageError> {
        let body = ByteStream::from_path(src).await.map_err(|e| io_error(blob, "reading the file for", e))?;
        self.client
            .put_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| storage_error(&blob.to_string(), "uploading", e))?;
        Ok(())
    }

    async fn read_range(&self, blob: &BlobRef, start: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let range = format!("bytes={start}-{}", start + len - 1);
        Self::collect(blob, self.get(blob, Some(range), "reading").await?).await
    }

    async fn put_bytes(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| storage_error(&blob.to_string(), "storing", e))?;
        Ok(())
    }

    async fn get_bytes(&self, blob: &BlobRef) -> Result<Vec<u8>, StorageError> {
        Self::collect(blob, self.get(blob, None, "reading").await?).await
    }

    /// `CopyObject` then `DeleteObject` (S3 has no rename). A source already gone is `false`:
    /// the copy answers `NoSuchKey`, or 403 to a role whose `ListBucket` S3 does not count for
    /// the missing key; a 403 is looked up by a listing before it is taken as a refusal.
    async fn move_to(&self, from: &BlobRef, to: &BlobRef) -> Result<bool, StorageError> {
        let source = format!("{}/{}", from.bucket, encode_key(&from.key));
        let copied =
            self.client.copy_object().copy_source(source).bucket(&to.bucket).key(&to.key).send().await;
        match copied.map_err(|e| storage_error(&from.to_string(), "moving", e)) {
            Ok(_) => {}
            Err(StorageError::NotFound(_)) => return Ok(false),
            Err(StorageError::Denied(_)) if !self.exists(from).await? => return Ok(false),
            Err(e) => return Err(e),
        }
        self.client
            .delete_object()
            .bucket(&from.bucket)
            .key(&from.key)
            .send()
            .await
            .map_err(|e| storage_error(&from.to_string(), "deleting the moved", e))?;
        Ok(true)
    }

    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, StorageError> {
        if !prefix.ends_with('/') {
            return Err(StorageError::Failed(format!("deleting under {prefix:?}: a prefix ends in /")));
        }
        self.delete_listed(bucket, prefix, |_| true).await
    }

    async fn delete_versions(&self, blob: &BlobRef) -> Result<u64, StorageError> {
        self.delete_listed(&blob.bucket, &blob.key, |k| k == blob.key).await
    }

    async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| storage_error(&format!("{bucket}/{prefix}"), "listing", e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key()).map(str::to_owned));
        }
        Ok(keys)
    }

    /// A presigned GET, signed with the function's own credentials (valid at most as long as
    /// they are: a role's session).
    async fn download_url(
        &self,
        blob: &BlobRef,
        valid_for: std::time::Duration,
    ) -> Result<String, StorageError> {
        let signed = self
            .client
            .get_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .presigned(presigning(blob, valid_for)?)
            .await
            .map_err(|e| storage_error(&blob.to_string(), "presigning", e))?;
        Ok(signed.uri().to_owned())
    }

    /// A presigned PUT with its `Content-Type` signed: the uploader sends that type or S3
    /// refuses the signature. Valid at most as long as the role's session is.
    async fn upload_url(
        &self,
        blob: &BlobRef,
        content_type: &str,
        valid_for: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        let signed = self
            .client
            .put_object()
            .bucket(&blob.bucket)
            .key(&blob.key)
            .content_type(content_type)
            .presigned(presigning(blob, valid_for)?)
            .await
            .map_err(|e| storage_error(&blob.to_string(), "presigning", e))?;
        Ok(Some(signed.uri().to_owned()))
    }

    async fn exists(&self, blob: &BlobRef) -> Result<bool, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&blob.bucket)
            .prefix(&blob.key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| storage_error(&blob.to_string(), "looking for", e))?;
        // The first key under the prefix, in key order, is the key itself when it exists.
        Ok(out.contents().first().and_then(|o| o.key()) == Some(blob.key.as_str()))
    }
}

/// A key as `x-amz-copy-source` takes it: URL-encoded, `/` kept.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
