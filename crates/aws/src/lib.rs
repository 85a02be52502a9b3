//! echome's ports on AWS, through the official SDK for Rust.

pub mod config;
pub mod lambda;
pub mod s3;

pub use s3::S3BlobStore;
