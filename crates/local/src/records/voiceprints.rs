//! Each caller's reference voice, kept until the caller's data is erased.

use echome_core::{Person, ReferenceVoice, ReferenceVoices, StorageError};

use super::{LocalRecords, VOICEPRINTS};

impl ReferenceVoices for LocalRecords {
    async fn reference_voice(&self, person: &Person) -> Result<Option<ReferenceVoice>, StorageError> {
        self.get(VOICEPRINTS, person.as_key())
    }

    async fn put_reference_voice(&self, rec: &ReferenceVoice) -> Result<(), StorageError> {
        self.put(VOICEPRINTS, rec.person.as_key(), rec).await
    }
}
