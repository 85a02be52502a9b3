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
            if needles.iter().any(|n| names_number(&body, n.as_bytes())) {
                self.blobs.delete_versions(&blob).await?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}

/// Whether `hay` holds `number` as a whole number: no digit right before or after it (so
/// `+1415555012` is not found in `+14155550123`).
pub fn names_number(hay: &[u8], number: &[u8]) -> bool {
    if number.is_empty() || hay.len() < number.len() {
        return false;
    }
    (0..=hay.len() - number.len()).any(|i| {
        let before = i.checked_sub(1).map(|j| hay[j]);
        let after = hay.get(i + number.len()).copied();
        &hay[i..i + number.len()] == number
            && !before.is_some_and(|b| b.is_ascii_digit())
            && !after.is_some_and(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    #[test]
    fn a_number_is_found_whole_only() {
        let body = br#"{"caller_id":"+14155550123","called":"18005550199"}"#;
        assert!(names_number(body, b"+14155550123"));
        assert!(names_number(body, b"14155550123"), "without its +");
        assert!(!names_number(body, b"+1415555012"), "a shorter number inside it");
        assert!(!names_number(body, b"4155550123"), "its tail");
        assert!(!names_number(body, b"1800555019"));
        assert!(names_number(body, b"18005550199"));
        assert!(!names_number(b"", b"1"));
    }

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
