//! The clone quality score on real voices (bench/speaker_check.py: Debian's telephone prompts of
//! Allison, Carlo and others). score-voice's handler, as the Lambda runs it, against engines
//! whose output is known: the caller's own held-out speech played back (a perfect clone's
//! stand-in), another person's speech, and the offline espeak-ng engine; then `echome run`
//! end to end.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use echome_core::quality::TEST_PHRASES;
use echome_core::{
    BlobRef, BlobStore, CallerId, CloneCache, CloneOutput, EngineVoice, ErrorType, QualityScore, RunId,
    ScoreInput, SegmentOutput, SpeechFormat, StepError, VoiceEngine, VoiceId,
};
use echome_local::{FsBlobStore, LocalRecords, OfflineEngine};
use echome_testkit::playback::Playback;

const BUCKET: &str = "recordings";
const CALLER: &str = "+14155550123";

fn recordings() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| echome_tests::built_by("speaker_check.py"))
}

fn recording(name: &str) -> PathBuf {
    recordings().join(format!("{name}.wav"))
}

struct World {
    dir: tempfile::TempDir,
    blobs: FsBlobStore,
    records: LocalRecords,
    cfg: score_voice::Config,
    pack: SegmentOutput,
}

/// Allison's first recording made into a pack by the real pipeline, under `runs/r0/`.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let encoder = echome_voiceprint::default_encoder().unwrap().expect("the encoder's weights (make tools)");
    let prepare = echome_audio::PrepareConfig::default();
    let run_dir = blobs.path_of(&BlobRef::new(BUCKET, "runs/r0")).unwrap();
    let report = echome_audio::prepare_file(
        &recording("en_US_f_Allison_1"),
        &run_dir,
        &prepare,
        Some(&encoder),
        &mut |_| {},
    )
    .unwrap();
    let pack = echome_testkit::fixtures::pack_of(&report, BUCKET, "r0");
    let cfg = score_voice::Config { work_dir: dir.path().to_owned(), prepare, encoder: Some(encoder) };
    World { dir, blobs, records, cfg, pack }
}

impl World {
    fn input(&self, run: &str, voice: &VoiceId, engine: &str) -> ScoreInput {
        ScoreInput {
            run_id: RunId::parse(run).unwrap(),
            person: echome_core::Person::from(CallerId::parse(CALLER).unwrap()),
            pack: self.pack.clone(),
            clone: CloneOutput {
                voice_id: voice.clone(),
                engine: engine.into(),
                cached: false,
                evicted: None,
            },
        }
    }

    async fn score<E: VoiceEngine>(
        &self,
        engine: &E,
        run: &str,
        voice: &VoiceId,
    ) -> Result<QualityScore, StepError> {
        let input = self.input(run, voice, engine.name());
        score_voice::handle(&self.blobs, &self.records, engine, &self.cfg, input).await
    }

    /// The caller's clone entry holds `voice`, as CloneVoice leaves it.
    async fn holds(&self, voice: &VoiceId) {
        let rec = echome_testkit::fixtures::clone_entry(CALLER, voice.as_str(), Utc::now());
        self.records.put_clone(&rec).await.unwrap();
    }

    fn pack_files(&self) -> Vec<PathBuf> {
        self.pack.samples.iter().map(|s| self.blobs.path_of(s).unwrap()).collect()
    }
}

fn voice(id: &str) -> VoiceId {
    VoiceId::parse(id).unwrap()
}

fn part(q: &QualityScore, name: &str) -> Option<f64> {
    q.parts.named().iter().find(|(n, _)| *n == name).and_then(|(_, p)| p.score)
}

fn show(label: &str, q: &QualityScore) {
    let parts: Vec<String> = q.parts.named().iter().map(|(n, p)| format!("{n} {:?}", p.score)).collect();
    println!("{label:<28} score {:?}: {}", q.score, parts.join(", "));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_perfect_clone_scores_high_and_another_voice_or_the_offline_engine_low() {
    let w = world();
    let own = Playback::of(&recording("en_US_f_Allison_2"), 0.0).unwrap();
    let mine = w.score(&own, "r-own", &voice("ownVoice1")).await.unwrap();
    let other = Playback::of(&recording("it_IT_m_Carlo_1"), 0.0).unwrap();
    let carlo = w.score(&other, "r-other", &voice("otherVoice1")).await.unwrap();
    let (offline_voice, _) = OfflineEngine.clone_voice("caller", &w.pack_files(), false).await.unwrap();
    let espeak = w.score(&OfflineEngine, "r-offline", &offline_voice).await.unwrap();
    show("the caller's own speech", &mine);
    show("another person's speech", &carlo);
    show("offline engine (espeak-ng)", &espeak);

    for q in [&mine, &carlo, &espeak] {
        assert!(q.missing().is_empty(), "every part is measured on real speech: {:?}", q.missing());
        assert_eq!(q.phrases.len(), TEST_PHRASES.len());
    }
    let (own_score, carlo_score, espeak_score) =
        (mine.score.unwrap(), carlo.score.unwrap(), espeak.score.unwrap());
    assert!(part(&mine, "similarity").unwrap() >= 0.7, "the caller's own voice: {:?}", mine.parts.similarity);
    assert!(part(&carlo, "similarity").unwrap() <= 0.2, "another person: {:?}", carlo.parts.similarity);
    assert!(part(&espeak, "similarity").unwrap() <= 0.2, "espeak-ng: {:?}", espeak.parts.similarity);
    assert!(own_score >= 0.7, "{own_score}");
    assert!(
        own_score - carlo_score >= 0.25 && own_score - espeak_score >= 0.25,
        "{own_score} {carlo_score} {espeak_score}"
    );
    assert_eq!(mine.parts.clarity, carlo.parts.clarity, "clarity is the pack's, whoever speaks");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_phrases_are_spoken_once_per_voice_and_kept_with_the_run() {
    let w = world();
    let v = voice("ownVoice1");
    w.holds(&v).await;
    let own = Playback::of(&recording("en_US_f_Allison_2"), 0.0).unwrap();
    let first = w.score(&own, "r1", &v).await.unwrap();
    assert_eq!(*own.asked.lock().unwrap(), TEST_PHRASES, "each fixed phrase, in order");
    let characters: usize = TEST_PHRASES.iter().map(|t| t.chars().count()).sum();
    assert_eq!(first.characters, characters as u64);
    for n in 1..=TEST_PHRASES.len() {
        let phrase = BlobRef::new(BUCKET, format!("runs/r1/quality/phrase-{n}.mp3"));
        assert!(w.blobs.exists(&phrase).await.unwrap(), "{phrase}");
        assert_eq!(first.phrases[n - 1].audio, phrase);
    }
    let kept: QualityScore = serde_json::from_slice(
        &w.blobs.get_bytes(&BlobRef::new(BUCKET, "runs/r1/quality/score.json")).await.unwrap(),
    )
    .unwrap();
    assert_eq!(kept, first, "the run keeps the score beside its phrases");
    let caller = CallerId::parse(CALLER).unwrap();
    assert_eq!(
        w.records.quality_of(&echome_core::Person::from(&caller), &v).await.unwrap().as_ref(),
        Some(&first),
        "stored with the voice"
    );

    // A later run that reuses the voice: nothing is spoken again.
    let later = Playback::of(&recording("en_US_f_Allison_3"), 0.0).unwrap();
    let again = w.score(&later, "r2", &v).await.unwrap();
    assert_eq!(again, first);
    assert!(later.asked.lock().unwrap().is_empty());
    assert!(!w.blobs.exists(&BlobRef::new(BUCKET, "runs/r2/quality/score.json")).await.unwrap());

    // A newer voice has no score yet, and the old one's is never laid on it.
    let newer = voice("ownVoice2");
    w.holds(&newer).await;
    assert_eq!(w.records.quality_of(&echome_core::Person::from(&caller), &newer).await.unwrap(), None);
    assert!(
        !w.records.set_quality(&echome_core::Person::from(&caller), &first).await.unwrap(),
        "the entry holds another voice now"
    );
    assert_eq!(w.records.quality_of(&echome_core::Person::from(&caller), &v).await.unwrap(), None);
    drop(w.dir);
}

/// Fails its third request with a retryable error, once.
struct FailsThird {
    inner: Playback,
    calls: AtomicUsize,
}

impl VoiceEngine for FailsThird {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn clone_voice(&self, n: &str, f: &[PathBuf], r: bool) -> Result<(VoiceId, u64), StepError> {
        self.inner.clone_voice(n, f, r).await
    }
    async fn delete_voice(&self, v: &VoiceId) -> Result<(), StepError> {
        self.inner.delete_voice(v).await
    }
    async fn voices(&self) -> Result<Vec<EngineVoice>, StepError> {
        self.inner.voices().await
    }
    async fn slots(&self) -> Result<Option<(u32, u32)>, StepError> {
        self.inner.slots().await
    }
    async fn synthesize(&self, v: &VoiceId, text: &str, f: SpeechFormat) -> Result<Vec<u8>, StepError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 2 {
            return Err(StepError::new(ErrorType::Retryable, "provider_unavailable", "try again"));
        }
        self.inner.synthesize(v, text, f).await
    }
    async fn max_characters(&self) -> Result<usize, StepError> {
        self.inner.max_characters().await
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_attempt_speaks_only_the_phrases_not_spoken_yet() {
    let w = world();
    let engine = FailsThird {
        inner: Playback::of(&recording("en_US_f_Allison_2"), 0.0).unwrap(),
        calls: AtomicUsize::new(0),
    };
    let v = voice("ownVoice1");
    let failed = w.score(&engine, "r1", &v).await.unwrap_err();
    assert_eq!(failed.error_type, ErrorType::Retryable, "the ASL retries it");
    let done = w.score(&engine, "r1", &v).await.unwrap();
    assert_eq!(
        *engine.inner.asked.lock().unwrap(),
        TEST_PHRASES,
        "phrases 1 and 2 from the first attempt, 3 and 4 from the second"
    );
    assert_eq!(done.phrases.len(), TEST_PHRASES.len());
}

#[test]
fn echome_run_reports_the_new_voice_s_quality_and_a_reused_voice_keeps_its_score() {
    let data = tempfile::tempdir().unwrap();
    let audio = recording("en_US_f_Allison_1");
    let run = || {
        echome_tests::echome_json(
            data.path(),
            &["run", audio.to_str().unwrap(), "--caller", CALLER, "--json"],
        )
    };
    let (ok, first) = run();
    assert!(ok, "{first}");
    let q = &first["quality"];
    assert_eq!(q["engine"], "offline", "{q}");
    assert_eq!(q["scored_by_run"], first["run_id"]);
    let score = q["score"].as_f64().unwrap();
    assert!(q["similarity"].as_f64().unwrap() <= 0.2 && score < 0.6, "espeak-ng is not the caller: {q}");
    for part in ["consistency", "clarity", "naturalness"] {
        assert!(q[part].is_f64(), "{part}: {q}");
    }
    let run_dir = Path::new(first["report"].as_str().unwrap()).parent().unwrap().to_owned();
    assert!(run_dir.join("quality/phrase-4.mp3").is_file() && run_dir.join("quality/score.json").is_file());

    let (ok, again) = run();
    assert!(ok, "{again}");
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["quality"], first["quality"], "scored once per voice");
    let (ok, list) = echome_tests::echome_json(data.path(), &["voices", "list", "--json"]);
    assert!(ok, "{list}");
    assert_eq!(list["cached"][0]["quality"], q["score"], "the library shows the voice's score: {list}");
    // The voice is a model of the library: the caller's, the account's, active, with its score.
    let model = &list["models"][0];
    assert_eq!(list["models"].as_array().unwrap().len(), 1, "one model for one voice: {list}");
    assert_eq!(
        (model["owner"].clone(), model["is_active"].clone()),
        (json!("system"), json!(true)),
        "{model}"
    );
    assert_eq!(model["provider_voice_id"], first["voice_id"]);
    assert_eq!(model["quality"]["score"], q["score"], "the score is kept with the model");
    assert!(!model.to_string().contains(&CALLER[3..]), "the number is redacted: {model}");
}
