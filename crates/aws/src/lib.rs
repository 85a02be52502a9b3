//! echome's ports on AWS, through the official SDK for Rust.

pub mod config;
pub mod dynamo;
mod errors;
pub mod lambda;
pub mod limits;
pub mod s3;
pub mod secrets;
pub mod sfn;

pub use dynamo::DynamoRecords;
pub use limits::DynamoRateLimiter;
pub use s3::S3BlobStore;
pub use sfn::SfnRunStarter;
