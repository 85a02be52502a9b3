//! SDK failures sorted into the port's three kinds: what retrying may fix is `Transient`.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use echome_core::StorageError;

/// `subject` names the object or record (it becomes the `NotFound` payload); `what` says what
/// was being done.
/// Every SDK crate answers with the same smithy `HttpResponse`.
pub(crate) fn storage_error<E>(subject: &str, what: &str, e: SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_owned();
    let detail = format!("{what} {subject}: {}", DisplayErrorContext(&e));
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StorageError::Transient(detail)
        }
        // DynamoDB's ResourceNotFoundException means a missing table, not a missing item: that
        // is a broken deployment, reported as a failure below.
        _ if status == Some(404) || matches!(code.as_str(), "NoSuchKey" | "NotFound") => {
            StorageError::NotFound(subject.to_owned())
        }
        _ if matches!(status, Some(429 | 500 | 502 | 503 | 504))
            || matches!(
                code.as_str(),
                "SlowDown"
                    | "RequestTimeout"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
            ) =>
        {
            StorageError::Transient(detail)
        }
        _ => StorageError::Failed(detail),
    }
}
