//! The SDK configuration, loaded once at init. `AWS_ENDPOINT_URL` (read by the SDK itself) points
//! every client at moto or LocalStack; S3 then needs path-style addressing.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A configuration for an AWS look-alike on `endpoint` (moto in the tests), with throwaway
/// credentials: such servers accept any.
pub fn for_endpoint(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "echome-endpoint-override",
            ),
        ))
        .build()
}
