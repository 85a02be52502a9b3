//! Where an object lives. Its own module: every record and step names objects, and none of
//! them should depend on the others for it.

use serde::{Deserialize, Serialize};

/// Where an object lives: an S3 bucket and key, or a folder and path under the local data dir.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    pub bucket: String,
    pub key: String,
}

impl BlobRef {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self { bucket: bucket.into(), key: key.into() }
    }

    /// A sibling object in the same bucket.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self { bucket: self.bucket.clone(), key: key.into() }
    }
}

impl std::fmt::Display for BlobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.bucket, self.key)
    }
}
