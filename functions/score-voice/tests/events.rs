//! Runs the handler on the events in events/score-voice/ with the filesystem blob store, the
//! local records, a pack the real pipeline cut from a generated recording, real ffmpeg and the
//! offline engine: a new voice is scored on its spoken phrases; a reused one keeps its score.

use chrono::Utc;
use echome_core::{BlobRef, BlobStore, CloneCache, RunId, ScoreInput};
use echome_local::{FsBlobStore, LocalRecords, OfflineEngine};
use echome_testkit::{Scene, SceneKind, generate};

#[tokio::test(flavor = "multi_thread")]
async fn a_new_voice_is_scored_and_a_reused_one_keeps_its_score() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::new(dir.path().join("blobs"));
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let new: ScoreInput = echome_testkit::events::parse("score-voice", "new-voice");
    let reused: ScoreInput = echome_testkit::events::parse("score-voice", "reused-voice");
    assert_eq!(echome_testkit::events::names("score-voice").len(), 2);

    let call = dir.path().join("call.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 7 }, &call).unwrap();
    let encoder = echome_voiceprint::default_encoder().unwrap().expect("the encoder's weights (make tools)");
    let run_dir = blobs.path_of(&BlobRef::new("echome-recordings", new.run_id.prefix())).unwrap();
    let prepare = echome_audio::PrepareConfig::default();
    echome_audio::prepare_file(&call, &run_dir, &prepare, Some(&encoder), &mut |_| {}).unwrap();
    let entry =
        echome_testkit::fixtures::clone_entry(new.person.as_key(), new.clone.voice_id.as_str(), Utc::now());
    records.put_clone(&entry).await.unwrap();
    let cfg = score_voice::Config { work_dir: dir.path().to_owned(), prepare, encoder: Some(encoder) };

    let scored = score_voice::handle(&blobs, &records, &OfflineEngine, &cfg, new.clone()).await.unwrap();
    assert!(scored.missing().is_empty(), "{:?}", scored.missing());
    let score = scored.score.unwrap();
    assert!((0.0..=1.0).contains(&score), "{score}");
    assert_eq!(scored.run_id, new.run_id);
    let quality = new.pack.report.with_key(format!("{}quality/score.json", new.run_id.prefix()));
    assert!(blobs.exists(&quality).await.unwrap());

    let kept = score_voice::handle(&blobs, &records, &OfflineEngine, &cfg, reused.clone()).await.unwrap();
    assert_eq!(kept, scored, "the reused voice's score, measured once");
    let none = reused.pack.report.with_key(format!("{}quality/phrase-1.mp3", reused.run_id.prefix()));
    assert!(!blobs.exists(&none).await.unwrap(), "nothing spoken for the reused voice");
    assert_eq!(RunId::parse("ev-score-reused").unwrap(), reused.run_id);
}
