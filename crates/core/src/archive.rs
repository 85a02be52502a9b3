//! Webhook deliveries kept as received, before anything acts on them, so that nothing a sender
//! sent is lost even when it cannot be parsed or acted on.

use crate::blob::BlobRef;
use crate::error::StorageError;
use crate::ports::{BlobStore, Delivery, WebhookArchive};

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

    async fn forget(&self, prefixes: &[String], needles: &[String]) -> Result<u64, StorageError> {
        let mut gone = 0;
        let mut keys = Vec::new();
        for prefix in prefixes {
            keys.extend(self.blobs.keys(&self.bucket, prefix).await?);
        }
        for key in keys {
            let blob = BlobRef::new(&self.bucket, key);
            let body = match self.blobs.get_bytes(&blob).await {
                Ok(b) => b,
                // Expired by the lifecycle since the listing.
                Err(StorageError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if needles.iter().any(|n| !n.is_empty() && contains(&body, n.as_bytes())) {
                self.blobs.delete_versions(&blob).await?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

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
