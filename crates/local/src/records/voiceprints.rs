//! Each caller's reference voice, kept until the caller's data is erased.

use echome_core::{CallerId, ReferenceVoice, ReferenceVoices, StorageError};

use super::{LocalRecords, VOICEPRINTS};

impl ReferenceVoices for LocalRecords {
    async fn reference_voice(&self, caller: &CallerId) -> Result<Option<ReferenceVoice>, StorageError> {
        self.get(VOICEPRINTS, caller.as_str())
    }

    async fn put_reference_voice(&self, rec: &ReferenceVoice) -> Result<(), StorageError> {
        self.put(VOICEPRINTS, rec.caller_id.as_str(), rec).await
    }
}
