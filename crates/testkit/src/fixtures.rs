//! Records the tests of several crates share.

use chrono::{DateTime, Duration, Utc};
use echome_core::{
    BlobRef, CloneRecord, CloneStatus, PackFigures, QualityScore, RunId, SegmentOutput, VoiceId,
};

/// A sample pack as SegmentAudio leaves it under `runs/{run}/` in `bucket`: two files, noisy, a
/// warning, so a round trip through a store shows every field.
pub fn pack(bucket: &str, run: &str) -> SegmentOutput {
    let key = |n: &str| BlobRef::new(bucket, format!("runs/{run}/{n}"));
    SegmentOutput {
        samples: vec![key("sample_1.wav"), key("sample_2.wav")],
        report: key("report.json"),
        picture: key("timeline.svg"),
        speech_s: 1800.5,
        selected_s: 120.0,
        noisy: true,
        warnings: vec!["narrowband".into()],
    }
}

/// The caller's clone entry holding `voice`, made and last used at `at`, fresh for 24 hours
/// (as CloneVoice leaves it).
pub fn clone_entry(caller: &str, voice: &str, at: DateTime<Utc>) -> CloneRecord {
    CloneRecord {
        person: echome_core::Person::parse(caller).expect("a caller's number or a person's id"),
        voice_id: VoiceId::parse(voice).expect("a voice id"),
        engine: "elevenlabs".into(),
        pack_digest: format!("pack-of-{voice}"),
        run_id: RunId::parse("run-1").expect("a run id"),
        created_at: at,
        last_used_at: at,
        reuse_count: 0,
        status: CloneStatus::Active,
        expires_at: (at + Duration::hours(24)).timestamp(),
    }
}

/// The pack `echome_audio::prepare_file` wrote under `runs/{run}/` in `bucket`, as SegmentAudio
/// would name it.
pub fn pack_of(report: &echome_audio::Report, bucket: &str, run: &str) -> SegmentOutput {
    let key = |n: &str| BlobRef::new(bucket, format!("runs/{run}/{n}"));
    SegmentOutput {
        samples: report.samples.iter().map(|s| key(&s.path)).collect(),
        report: key("report.json"),
        picture: key("timeline.svg"),
        speech_s: report.totals.speech_s,
        selected_s: report.totals.selected_s,
        noisy: report.noisy,
        warnings: report.warnings.iter().map(|w| w.code.to_owned()).collect(),
    }
}

/// `voice`'s score as `run` measured it from `pack`'s figures alone (no phrases: only clarity
/// can be measured), 256 characters spent.
pub fn quality_score(voice: &str, run: &str, pack: &PackFigures, at: DateTime<Utc>) -> QualityScore {
    let (score, parts) = echome_core::quality::score_parts(pack, None, &[], false);
    QualityScore {
        voice_id: VoiceId::parse(voice).expect("a voice id"),
        engine: "elevenlabs".into(),
        run_id: RunId::parse(run).expect("a run id"),
        score,
        parts,
        phrases: vec![],
        characters: 256,
        scored_at: at,
    }
}

/// A ready ElevenLabs model `vm-{run}` of `person` owned by `owner`, speaking with `voice`, made
/// at `at`, scored `score` (its stored score as given, not measured).
pub fn voice_model(
    run: &str,
    person: &str,
    owner: &str,
    voice: &str,
    score: Option<f64>,
    at: DateTime<Utc>,
) -> echome_core::library::VoiceModel {
    use echome_core::library::{ModelId, ModelSource, ModelStatus, Person, VoiceModel};
    let run_id = RunId::parse(run).expect("a run id");
    let quality = score
        .map(|s| QualityScore { score: Some(s), ..quality_score(voice, run, &PackFigures::default(), at) });
    let person = Person::parse(person).expect("a person");
    VoiceModel {
        provider_voice_id: Some(VoiceId::parse(voice).expect("a voice id")),
        source: ModelSource { run_id: Some(run_id.clone()), ..Default::default() },
        sample_rate: Some(44_100),
        quality,
        status: ModelStatus::Ready,
        ..VoiceModel::new(ModelId::for_run(&run_id), person, owner, "elevenlabs", at)
    }
}
