//! Composes long recordings block by block, streaming them to a WAV file, and records what
//! each stretch is.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use echome_audio::wav::WavWriter;
use serde::{Deserialize, Serialize};

use crate::speech::{SENTENCES, Voice};
use crate::{RATE, Rng, music};

/// What a stretch of the recording holds. Only `MainClean` is what a sample pack should contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    MainClean,
    MainMusicBed,
    MainLowSnr,
    SecondSpeaker,
    Overlap,
    Music,
    Noise,
    Silence,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub duration_s: f64,
    pub sample_rate: u32,
    /// `[start_s, end_s, label]`, in time order, covering the whole recording.
    pub segments: Vec<(f64, f64, Label)>,
}

impl Truth {
    /// Seconds of `[start, end)` that fall in stretches labelled `label`.
    pub fn overlap(&self, start: f64, end: f64, label: Label) -> f64 {
        self.segments
            .iter()
            .filter(|(_, _, l)| *l == label)
            .map(|&(s, e, _)| (end.min(e) - start.max(s)).max(0.0))
            .sum()
    }

    pub fn total(&self, label: Label) -> f64 {
        self.segments.iter().filter(|(_, _, l)| *l == label).map(|(s, e, _)| e - s).sum()
    }

    /// Share of the given intervals that is the main speaker's clean speech.
    pub fn purity(&self, intervals: &[(f64, f64)]) -> f64 {
        let total: f64 = intervals.iter().map(|(s, e)| e - s).sum();
        if total <= 0.0 {
            return 0.0;
        }
        intervals.iter().map(|&(s, e)| self.overlap(s, e, Label::MainClean)).sum::<f64>() / total
    }
}

/// What to put in a recording.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SceneKind {
    /// Everything a careless selection trips over: music beds and interludes, noise bursts,
    /// a second speaker, overlap, low-SNR stretches; about a quarter is clean main speech.
    Mixed,
    /// The main speaker alone, in a quiet room.
    Clean,
    /// Only `speech_s` seconds of clean main speech, the rest quiet room.
    ShortSpeech {
        speech_s: f32,
    },
    MusicOnly,
    NoiseOnly,
    Silence,
}

#[derive(Debug, Clone, Copy)]
pub struct Scene {
    pub kind: SceneKind,
    pub seconds: f32,
    pub seed: u64,
}

/// Writes the scene as 16-bit mono WAV at [`RATE`] and returns its ground truth.
pub fn generate(scene: Scene, out: &Path) -> anyhow::Result<Truth> {
    let scratch = tempdir_in_target()?;
    let mut c = Composer::new(out, scene.seed, scratch.path())?;
    let end = scene.seconds as f64;
    match scene.kind {
        SceneKind::Clean => {
            while c.t() < end {
                let n = 4 + c.rng.below(4);
                c.block_main(Label::MainClean, n, None)?;
                c.pause(0.8, 1.5)?;
            }
        }
        SceneKind::ShortSpeech { speech_s } => {
            c.pause(2.0, 2.0)?;
            let target = c.t() + speech_s as f64;
            while c.t() < target {
                c.block_main(Label::MainClean, 1, None)?;
                c.pause(0.8, 1.0)?;
            }
            let rest = (end - c.t()).max(1.0) as f32;
            c.pause(rest, rest)?;
        }
        SceneKind::MusicOnly => {
            while c.t() < end {
                c.music(30.0f32.min((end - c.t()) as f32 + 1.0))?;
            }
        }
        SceneKind::NoiseOnly => {
            while c.t() < end {
                let secs = c.rng.range(3.0, 10.0);
                c.noise(secs)?;
                c.pause(0.3, 1.0)?;
            }
        }
        SceneKind::Silence => c.pause(scene.seconds, scene.seconds)?,
        SceneKind::Mixed => {
            c.pause(1.0, 1.0)?;
            while c.t() < end {
                let (pick, n, u) = (c.rng.below(10), c.rng.below(4), c.rng.f32());
                match pick {
                    0..=2 => c.block_main(Label::MainClean, 3 + n, None)?,
                    3 => c.block_main(Label::MainMusicBed, 3 + n, None)?,
                    4 => c.music(10.0 + 35.0 * u)?,
                    5 => c.noise(2.0 + 6.0 * u)?,
                    6 => c.block_second(2 + n)?,
                    7 => c.block_main(Label::MainLowSnr, 3 + n, Some(8.0 * u))?,
                    8 => c.block_overlap(2 + n / 2)?,
                    _ => c.music(5.0 + 15.0 * u)?,
                }
                c.pause(0.8, 2.0)?;
            }
        }
    }
    c.finish()
}

fn tempdir_in_target() -> anyhow::Result<tempfile_lite::TempDir> {
    tempfile_lite::TempDir::new()
}

/// A scratch folder removed on drop (std only; the testkit stays dependency-light).
mod tempfile_lite {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> anyhow::Result<Self> {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
            let dir = std::env::temp_dir().join(format!("echome-testkit-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            Ok(Self(dir))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if let Err(e) = std::fs::remove_dir_all(&self.0) {
                eprintln!("could not remove {}: {e}", self.0.display());
            }
        }
    }
}

struct Composer<'a> {
    writer: WavWriter<BufWriter<File>>,
    written: usize,
    segments: Vec<(f64, f64, Label)>,
    rng: Rng,
    scratch: &'a Path,
    main: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    pink: [f32; 7],
}

impl<'a> Composer<'a> {
    fn new(out: &Path, seed: u64, scratch: &'a Path) -> anyhow::Result<Self> {
        let writer = WavWriter::new(BufWriter::new(File::create(out)?), RATE, 16)?;
        Ok(Self {
            writer,
            written: 0,
            segments: Vec::new(),
            rng: Rng::new(seed),
            scratch,
            main: Vec::new(),
            second: Vec::new(),
            pink: [0.0; 7],
        })
    }

    fn t(&self) -> f64 {
        self.written as f64 / RATE as f64
    }

    fn sentence(&mut self, second: bool) -> anyhow::Result<Vec<f32>> {
        let (pool, voice) =
            if second { (&mut self.second, Voice::SECOND) } else { (&mut self.main, Voice::MAIN) };
        if pool.is_empty() {
            for text in SENTENCES {
                pool.push(voice.speak(text, self.scratch)?);
            }
        }
        let i = self.rng.below(pool.len());
        Ok(pool[i].clone())
    }

    /// The room: pink noise at about −65 dBFS under everything.
    fn room(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.pink_sample() * 0.0012).collect()
    }

    fn pink_sample(&mut self) -> f32 {
        // Paul Kellet's refined pink filter.
        let w = self.rng.gauss();
        let b = &mut self.pink;
        b[0] = 0.99886 * b[0] + w * 0.0555179;
        b[1] = 0.99332 * b[1] + w * 0.0750759;
        b[2] = 0.96900 * b[2] + w * 0.153852;
        b[3] = 0.86650 * b[3] + w * 0.3104856;
        b[4] = 0.55000 * b[4] + w * 0.5329522;
        b[5] = -0.7616 * b[5] - w * 0.0168980;
        let out = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
        b[6] = w * 0.115926;
        out * 0.11
    }

    fn emit(&mut self, mut samples: Vec<f32>, label: Label, room: bool) -> anyhow::Result<()> {
        if room {
            let r = self.room(samples.len());
            samples.iter_mut().zip(r).for_each(|(s, n)| *s += n);
        }
        let start = self.t();
        self.writer.write(&samples)?;
        self.written += samples.len();
        let end = self.t();
        match self.segments.last_mut() {
            Some(last) if last.2 == label => last.1 = end,
            _ => self.segments.push((start, end, label)),
        }
        Ok(())
    }

    fn pause(&mut self, lo: f32, hi: f32) -> anyhow::Result<()> {
        let len = (self.rng.range(lo, hi) * RATE as f32) as usize;
        self.emit(vec![0.0; len], Label::Silence, true)
    }

    /// Sentences with natural pauses; `snr_db` buries them in noise, a music bed label adds music.
    fn speech_run(&mut self, n: usize, second: bool) -> anyhow::Result<Vec<f32>> {
        let mut run = Vec::new();
        for i in 0..n {
            if i > 0 {
                let gap = (self.rng.range(0.25, 0.9) * RATE as f32) as usize;
                run.extend(std::iter::repeat_n(0.0, gap));
            }
            run.extend(self.sentence(second)?);
        }
        Ok(run)
    }

    fn block_main(&mut self, label: Label, n: usize, snr_db: Option<f32>) -> anyhow::Result<()> {
        let gain = 10f32.powf(self.rng.range(-3.0, 3.0) / 20.0);
        let mut run = self.speech_run(n, false)?;
        run.iter_mut().for_each(|s| *s *= gain);
        match label {
            Label::MainMusicBed => {
                let bed = music::render(run.len() as f32 / RATE as f32 + 1.0, &mut self.rng);
                let level = 10f32.powf(self.rng.range(-16.0, -8.0) / 20.0);
                run.iter_mut().zip(bed).for_each(|(s, m)| *s += m * level * gain);
            }
            Label::MainLowSnr => {
                let speech_rms = rms(&run);
                let noise: Vec<f32> = (0..run.len()).map(|_| self.pink_sample()).collect();
                let k = speech_rms / rms(&noise).max(1e-9) / 10f32.powf(snr_db.unwrap_or(5.0) / 20.0);
                run.iter_mut().zip(noise).for_each(|(s, n)| *s += n * k);
            }
            _ => {}
        }
        self.emit(run, label, true)
    }

    fn block_second(&mut self, n: usize) -> anyhow::Result<()> {
        let run = self.speech_run(n, true)?;
        self.emit(run, Label::SecondSpeaker, true)
    }

    fn block_overlap(&mut self, n: usize) -> anyhow::Result<()> {
        let mut a = self.speech_run(n, false)?;
        let b = self.speech_run(n, true)?;
        let offset = (0.4 * RATE as f32) as usize;
        if a.len() < b.len() + offset {
            a.resize(b.len() + offset, 0.0);
        }
        a[offset..].iter_mut().zip(&b).for_each(|(s, o)| *s += 0.8 * o);
        self.emit(a, Label::Overlap, true)
    }

    fn music(&mut self, seconds: f32) -> anyhow::Result<()> {
        let gain = 10f32.powf(self.rng.range(-6.0, 0.0) / 20.0);
        let mut m = music::render(seconds, &mut self.rng);
        m.iter_mut().for_each(|s| *s *= gain);
        self.emit(m, Label::Music, true)
    }

    fn noise(&mut self, seconds: f32) -> anyhow::Result<()> {
        let len = (seconds * RATE as f32) as usize;
        let level = 10f32.powf(self.rng.range(-30.0, -12.0) / 20.0);
        let kind = self.rng.below(4);
        let mut prev = 0.0f32;
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let w = self.rng.gauss();
            let s = match kind {
                0 => w,
                1 => self.pink_sample() * 3.0,
                2 => {
                    prev = 0.98 * prev + 0.2 * w;
                    prev
                }
                // Mains hum with its harmonics over hiss: tonal noise.
                _ => {
                    let t = i as f32 / RATE as f32;
                    (1..=5)
                        .map(|h| (std::f32::consts::TAU * 50.0 * h as f32 * t).sin() / h as f32)
                        .sum::<f32>()
                        + 0.2 * w
                }
            };
            let env = (i as f32 / (0.05 * RATE as f32)).min(1.0)
                * ((len - i) as f32 / (0.05 * RATE as f32)).min(1.0);
            out.push(s * level * env);
        }
        self.emit(out, Label::Noise, true)
    }

    fn finish(mut self) -> anyhow::Result<Truth> {
        // Main speech owns the pauses at its edges only after a margin: the label ends
        // 0.3 s into the neighbouring silence, which is clean room tone.
        let mut segs = std::mem::take(&mut self.segments);
        for i in 0..segs.len() {
            if segs[i].2 == Label::MainClean {
                if i > 0 && segs[i - 1].2 == Label::Silence {
                    let m = (segs[i - 1].1 - segs[i - 1].0).min(0.3);
                    segs[i - 1].1 -= m;
                    segs[i].0 -= m;
                }
                if i + 1 < segs.len() && segs[i + 1].2 == Label::Silence {
                    let m = (segs[i + 1].1 - segs[i + 1].0).min(0.3);
                    segs[i + 1].0 += m;
                    segs[i].1 += m;
                }
            }
        }
        let duration_s = self.t();
        self.writer.finish()?;
        Ok(Truth { duration_s, sample_rate: RATE, segments: segs })
    }
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|s| s * s).sum::<f32>() / x.len().max(1) as f32).sqrt()
}
