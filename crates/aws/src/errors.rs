//! SDK failures sorted into the port's kinds: what retrying may fix is `Transient`; a refused
//! permission is `Denied`.

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
        // A missing permission, never a missing object: without `s3:ListBucket`, S3 answers a
        // missing key with 403 too, so a probe for an optional object must not read it as a miss.
        _ if (status == Some(403) && !not_a_permission(&code)) || is_denied(&code) => {
            StorageError::Denied(denied_detail(what, subject, &code))
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
                    | "ExpiredToken"
                    | "RequestTimeTooSkewed"
            ) =>
        {
            StorageError::Transient(detail)
        }
        _ => StorageError::Failed(detail),
    }
}

/// 403s about the credentials or the clock rather than the policy.
fn not_a_permission(code: &str) -> bool {
    matches!(code, "ExpiredToken" | "RequestTimeTooSkewed" | "SignatureDoesNotMatch" | "InvalidAccessKeyId")
}

fn is_denied(code: &str) -> bool {
    matches!(code, "AccessDenied" | "AccessDeniedException" | "Forbidden" | "AllAccessDisabled")
        || code.ends_with("AccessDeniedException")
}

/// What was refused and the permission that usually explains it.
fn denied_detail(what: &str, subject: &str, code: &str) -> String {
    let code = if code.is_empty() { "403" } else { code };
    // DynamoDB and SSM say AccessDeniedException; S3's hints would mislead there.
    let s3 = code != "AccessDeniedException";
    let hint = match what {
        _ if !s3 => "the function's policy does not allow it",
        "reading" | "downloading" => {
            "the function needs s3:GetObject on the key, and s3:ListBucket on the bucket (a missing key answers 403 without it)"
        }
        "uploading" | "storing" => "the function needs s3:PutObject on the key",
        _ => "the function's policy does not allow it",
    };
    format!("{what} {subject} was refused ({code}): {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    fn service_error(status: u16, code: &str) -> SdkError<GetObjectError, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message("denied");
        if !code.is_empty() {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(GetObjectError::generic(meta.build()), raw)
    }

    #[test]
    fn a_403_is_a_missing_permission_named_as_such_not_a_miss() {
        let e = storage_error("b/tts/abc.json", "reading", service_error(403, "AccessDenied"));
        let StorageError::Denied(msg) = &e else { panic!("{e:?}") };
        assert!(msg.contains("s3:ListBucket") && msg.contains("b/tts/abc.json"), "{msg}");
        assert_eq!(echome_core::StepError::from(e).code, "storage_access_denied");
        // HEAD answers carry no body and so no code: the status alone says it.
        let e = storage_error("b/k", "reading", service_error(403, ""));
        assert!(matches!(e, StorageError::Denied(_)), "{e:?}");
        let e = storage_error("t", "writing", service_error(400, "AccessDeniedException"));
        assert!(matches!(e, StorageError::Denied(_)), "{e:?}");
        let e = storage_error("b/k", "reading", service_error(403, "ExpiredToken"));
        assert!(matches!(e, StorageError::Transient(_)), "expired credentials pass: {e:?}");
    }

    #[test]
    fn a_404_is_still_a_miss() {
        let e = storage_error("b/k", "reading", service_error(404, "NoSuchKey"));
        assert_eq!(e, StorageError::NotFound("b/k".into()));
    }
}
