//! The speech cache's probe (`tts/{hash}.json`) when the store refuses access: in AWS without
//! `s3:ListBucket` a missing key answers 403, which must surface as a permission error, never
//! be taken for a miss or a generic failure.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use echome_core::{
    BlobRef, BlobStore, EngineVoice, ErrorType, SpeechFormat, StepError, StorageError, SynthesizeInput,
    VoiceEngine, VoiceId,
};
use synthesize_speech::{Config, handle};

/// S3 as a role with `s3:GetObject` but not `s3:ListBucket` sees a bucket without the object.
struct NoListBucket;

fn denied(blob: &BlobRef) -> StorageError {
    StorageError::Denied(format!("reading {blob} was refused (AccessDenied)"))
}

impl BlobStore for NoListBucket {
    async fn download_to(&self, blob: &BlobRef, _: &Path) -> Result<u64, StorageError> {
        Err(denied(blob))
    }
    async fn upload_from(&self, _: &BlobRef, _: &Path, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
    async fn read_range(&self, blob: &BlobRef, _: u64, _: u64) -> Result<Vec<u8>, StorageError> {
        Err(denied(blob))
    }
    async fn put_bytes(&self, _: &BlobRef, _: Vec<u8>, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
    async fn get_bytes(&self, blob: &BlobRef) -> Result<Vec<u8>, StorageError> {
        Err(denied(blob))
    }
    async fn exists(&self, blob: &BlobRef) -> Result<bool, StorageError> {
        Err(denied(blob))
    }
    async fn move_to(&self, from: &BlobRef, _: &BlobRef) -> Result<bool, StorageError> {
        Err(denied(from))
    }
    async fn download_url(&self, blob: &BlobRef, _: std::time::Duration) -> Result<String, StorageError> {
        Err(denied(blob))
    }
    async fn upload_url(
        &self,
        blob: &BlobRef,
        _: &str,
        _: std::time::Duration,
    ) -> Result<Option<String>, StorageError> {
        Err(denied(blob))
    }
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, StorageError> {
        Err(denied(&BlobRef::new(bucket, prefix)))
    }
    async fn delete_versions(&self, blob: &BlobRef) -> Result<u64, StorageError> {
        Err(denied(blob))
    }
    async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        Err(denied(&BlobRef::new(bucket, prefix)))
    }
}

#[derive(Default)]
struct Engine {
    spoken: AtomicUsize,
}

impl VoiceEngine for Engine {
    fn name(&self) -> &'static str {
        "elevenlabs"
    }
    async fn clone_voice(
        &self,
        _: &str,
        _: &[std::path::PathBuf],
        _: bool,
    ) -> Result<(VoiceId, u64), StepError> {
        Err(StepError::internal("not used"))
    }
    async fn delete_voice(&self, _: &VoiceId) -> Result<(), StepError> {
        Ok(())
    }
    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        Ok(Vec::new())
    }
    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        Ok(None)
    }
    async fn synthesize(&self, _: &VoiceId, _: &str, _: SpeechFormat) -> Result<Vec<u8>, StepError> {
        self.spoken.fetch_add(1, Ordering::SeqCst);
        Ok(vec![0x7f; 100])
    }
    async fn max_characters(&self) -> Result<usize, StepError> {
        Ok(10_000)
    }
    fn model(&self) -> &str {
        "eleven_multilingual_v2"
    }
}

#[tokio::test]
async fn a_refused_probe_is_a_permission_error_that_names_s3_listbucket_not_a_miss() {
    let engine = Engine::default();
    let cfg = Config { bucket: "echome-recordings".into(), consent: Default::default() };
    let input = SynthesizeInput {
        voice_id: Some(VoiceId::parse("JBFqnCBsd6RMkjVDRZzb").unwrap()),
        model_id: None,
        text: "Hello there.".into(),
        format: SpeechFormat::Ulaw,
    };
    let dir = tempfile::tempdir().unwrap();
    let lib = echome_local::LocalRecords::open(&dir.path().join("records.redb")).unwrap();
    let err = handle(&NoListBucket, &engine, &lib, &cfg, input).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::Internal, "storage_access_denied"), "{err}");
    assert!(err.message.contains("s3:ListBucket") && err.message.contains("tts/"), "{}", err.message);
    assert_eq!(
        engine.spoken.load(Ordering::SeqCst),
        0,
        "no speech is made (and paid for) on a refused probe"
    );
}
