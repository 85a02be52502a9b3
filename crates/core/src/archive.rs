//! Webhook deliveries kept as received, before anything acts on them, so that nothing a sender
//! sent is lost even when it cannot be parsed or acted on.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::StorageError;
use crate::ports::{BlobStore, WebhookArchive};
use crate::steps::BlobRef;

/// One delivery as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `3cx` or `elevenlabs`.
    pub source: &'a str,
    pub received_at: DateTime<Utc>,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    /// `webhooks/{source}/{day}/{time}-{digest}.json`: by source and day, the same in S3 and
    /// locally; the digest keeps two deliveries in one millisecond apart.
    pub fn key(&self) -> String {
        let digest = crate::signing::hex(&Sha256::digest(self.body)[..8]);
        format!(
            "webhooks/{}/{}/{}-{digest}.json",
            self.source,
            self.received_at.format("%Y-%m-%d"),
            self.received_at.format("%H%M%S%.3f")
        )
    }
}

/// The archive as one object per delivery in a blob store (S3 in AWS).
#[derive(Debug, Clone)]
pub struct BlobArchive<B> {
    pub blobs: B,
    pub bucket: String,
}

impl<B: BlobStore> WebhookArchive for BlobArchive<B> {
    async fn keep(&self, delivery: &Delivery<'_>) -> Result<String, StorageError> {
        let key = delivery.key();
        let blob = BlobRef::new(&self.bucket, key.clone());
        self.blobs.put_bytes(&blob, delivery.body.to_vec(), "application/json").await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_source_day_and_time_and_differ_by_content() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T09:05:07.042Z").unwrap().with_timezone(&Utc);
        let a = Delivery { source: "3cx", received_at: at, body: b"{\"a\":1}" };
        let b = Delivery { body: b"{\"a\":2}", ..a };
        assert!(a.key().starts_with("webhooks/3cx/2026-11-22/090507.042-"), "{}", a.key());
        assert!(a.key().ends_with(".json"));
        assert_ne!(a.key(), b.key(), "same millisecond, different content");
        assert_eq!(a.key(), a.key());
    }
}
