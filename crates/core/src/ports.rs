//! Narrow traits the handlers are generic over; crates/aws and crates/local implement them.

use std::future::Future;
use std::path::Path;

use crate::error::StorageError;
use crate::steps::BlobRef;

/// Object storage: S3 in AWS, a folder locally. Audio moves through files and ranges, never
/// whole objects in memory.
pub trait BlobStore: Send + Sync {
    /// Streams the object into a local file; returns its size in bytes.
    fn download_to(
        &self,
        blob: &BlobRef,
        dest: &Path,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Streams a local file into the store.
    fn upload_from(
        &self,
        blob: &BlobRef,
        src: &Path,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Reads `len` bytes from `start` (fewer at the end of the object).
    fn read_range(
        &self,
        blob: &BlobRef,
        start: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, StorageError>> + Send;

    /// Stores a small object (reports, records).
    fn put_bytes(
        &self,
        blob: &BlobRef,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Reads a small object whole.
    fn get_bytes(&self, blob: &BlobRef) -> impl Future<Output = Result<Vec<u8>, StorageError>> + Send;
}
