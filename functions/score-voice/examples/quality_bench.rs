//! The clone quality score on real voices, for `make bench`: for each speaker of
//! bench/speaker_check.py's recordings, a pack is cut from their first recording and scored by
//! score-voice's handler with three engines: the speaker's own held-out speech played back (a
//! stand-in for a perfect clone: the ceiling), another speaker's speech (the floor), and the
//! offline espeak-ng engine (what `echome` uses without an ElevenLabs key).
//!
//! usage: cargo run --release -p score-voice --example quality_bench -- OUT_DIR
//!   (OUT_DIR from `python3 bench/speaker_check.py OUT_DIR`)

use std::path::{Path, PathBuf};

use chrono::Utc;
use echome_core::{
    BlobRef, CallerId, CloneOutput, QualityScore, RunId, ScoreInput, SegmentOutput, VoiceEngine, VoiceId,
};
use echome_local::{FsBlobStore, LocalRecords, OfflineEngine};
use echome_testkit::playback::Playback;

/// (speaker, pack from, their own other recording, another speaker's recording).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("Allison (en_US, phone)", "en_US_f_Allison_1", "en_US_f_Allison_2", "fr_CA_f_June_1"),
    ("June (fr_CA, phone)", "fr_CA_f_June_1", "fr_CA_f_June_2", "en_US_f_Allison_1"),
    ("Carlo (it_IT, phone)", "it_IT_m_Carlo_1", "it_IT_m_Carlo_2", "alsa_man_1.phone"),
    ("IvrvoiceRU (ru_RU, phone)", "ru_RU_f_IvrvoiceRU_1", "ru_RU_f_IvrvoiceRU_2", "es_MX_f_Allison_1"),
    ("alsa-utils man (wideband)", "alsa_man_1", "alsa_man_2", "dispatcher_man_1"),
    ("speech-dispatcher man (wideband)", "dispatcher_man_1", "dispatcher_man_2", "alsa_man_1"),
];

struct Bench {
    _dir: tempfile::TempDir,
    blobs: FsBlobStore,
    records: LocalRecords,
    cfg: score_voice::Config,
}

impl Bench {
    fn pack(&self, recording: &Path, run: &str) -> SegmentOutput {
        let run_dir = self.blobs.path_of(&BlobRef::new("recordings", format!("runs/{run}"))).unwrap();
        let encoder = self.cfg.encoder.as_ref();
        let report =
            echome_audio::prepare_file(recording, &run_dir, &self.cfg.prepare, encoder, &mut |_| {}).unwrap();
        echome_testkit::fixtures::pack_of(&report, "recordings", run)
    }

    async fn score<E: VoiceEngine>(
        &self,
        engine: &E,
        pack: &SegmentOutput,
        run: &str,
        voice: VoiceId,
    ) -> QualityScore {
        let input = ScoreInput {
            run_id: RunId::parse(run).unwrap(),
            person: echome_core::Person::from(CallerId::parse("+14155550123").unwrap()),
            pack: pack.clone(),
            clone: CloneOutput {
                voice_id: voice,
                engine: engine.name().into(),
                cached: false,
                evicted: None,
            },
        };
        score_voice::handle(&self.blobs, &self.records, engine, &self.cfg, input).await.unwrap()
    }
}

fn cell(q: &QualityScore) -> String {
    let p = |s: Option<f64>| s.map_or("  —  ".to_owned(), |v| format!("{v:.2}"));
    format!(
        "{} (sim {} cons {} clar {} nat {})",
        p(q.score),
        p(q.parts.similarity.score),
        p(q.parts.consistency.score),
        p(q.parts.clarity.score),
        p(q.parts.naturalness.score)
    )
}

#[tokio::main]
async fn main() {
    let out = PathBuf::from(
        std::env::args().nth(1).expect("usage: quality_bench OUT_DIR (bench/speaker_check.py's)"),
    );
    let dir = tempfile::tempdir().unwrap();
    let encoder = echome_voiceprint::default_encoder().unwrap().expect("the encoder's weights (make tools)");
    let bench = Bench {
        blobs: FsBlobStore::new(dir.path().join("blobs")),
        records: LocalRecords::open(&dir.path().join("r.redb")).unwrap(),
        cfg: score_voice::Config {
            work_dir: dir.path().to_owned(),
            prepare: echome_audio::PrepareConfig::default(),
            encoder: Some(encoder),
        },
        _dir: dir,
    };
    let wav = |name: &str| out.join(format!("{name}.wav"));
    println!(
        "clone quality score (0–1; similarity 0.4, consistency 0.1, clarity 0.2, naturalness 0.3) on {} real speakers",
        CASES.len()
    );
    let mut sums = [0.0f64; 3];
    let started = std::time::Instant::now();
    for (n, (speaker, pack_from, own, other)) in CASES.iter().enumerate() {
        let pack = bench.pack(&wav(pack_from), &format!("p{n}"));
        let own = Playback::of(&wav(own), 0.0).unwrap();
        let other = Playback::of(&wav(other), 0.0).unwrap();
        let files: Vec<PathBuf> = pack.samples.iter().map(|s| bench.blobs.path_of(s).unwrap()).collect();
        let (espeak, _) = OfflineEngine.clone_voice("bench", &files, false).await.unwrap();
        let scores = [
            bench.score(&own, &pack, &format!("own{n}"), VoiceId::parse("ownVoice").unwrap()).await,
            bench.score(&other, &pack, &format!("other{n}"), VoiceId::parse("otherVoice").unwrap()).await,
            bench.score(&OfflineEngine, &pack, &format!("offline{n}"), espeak).await,
        ];
        println!("  {speaker}");
        for (label, q) in
            ["their own speech (perfect clone)", "another person's speech", "offline engine (espeak-ng)"]
                .iter()
                .zip(&scores)
        {
            println!("    {label:<34} {}", cell(q));
        }
        for (s, q) in sums.iter_mut().zip(&scores) {
            *s += q.score.unwrap_or(0.0);
        }
    }
    let n = CASES.len() as f64;
    println!(
        "  mean score: own speech {:.2}, another person {:.2}, offline engine {:.2} ({:.0} s, {})",
        sums[0] / n,
        sums[1] / n,
        sums[2] / n,
        started.elapsed().as_secs_f64(),
        Utc::now().format("%Y-%m-%d")
    );
}
