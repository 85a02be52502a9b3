//! ffmpeg as a subprocess: the layer's static build in Lambda (`/opt/bin/ffmpeg`), the one on
//! PATH locally, or `FFMPEG_PATH`. One pass decodes the recording into both outputs: the
//! full-quality mono copy the pack is cut from (a file) and 16 kHz mono for analysis (a pipe).
//!
//! What is uploaded is untrusted: a playlist (HLS `.m3u8`, a concat list, a DASH manifest) under
//! any name would make ffmpeg fetch the URLs or read the local files it names. Every invocation
//! that reads input allows the `file` and `pipe` protocols only and the containers of
//! [`FORMATS`] only (none of which names other files), and playlists are refused by their
//! first bytes with a message that says so.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use echome_core::recordings::RecordingChannel;
use echome_core::{AudioError, SourceInfo};

use crate::features::RATE;

pub fn ffmpeg_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FFMPEG_PATH") {
        return p.into();
    }
    let layer = Path::new("/opt/bin/ffmpeg");
    if layer.exists() { layer.to_path_buf() } else { PathBuf::from("ffmpeg") }
}

/// The only protocols ffmpeg may open: the input file itself, or a pipe.
pub const PROTOCOLS: &str = "file,pipe";

/// The containers (ffmpeg demuxers) echome reads: audio and video files that hold their media
/// themselves. Playlists and manifests (`hls`, `dash`, `concat`, …) are not among them.
pub const FORMATS: &str = "wav,w64,mp3,aac,ac3,eac3,dts,flac,ogg,matroska,webm,mov,mp4,m4a,3gp,3g2,mj2,\
asf,avi,flv,aiff,caf,amr,amrnb,amrwb,au,mpeg,mpegts,wv,ape,tta,tak,shn,mpc,mpc8,gsm,voc,loas,\
oma,xwma,nut,rm,dsf,wtv,mxf,truehd,mlp,ircam,nistsphere,qcp,sox,g722,ilbc";

/// The input options every invocation puts before its `-i`.
fn input_guard(cmd: &mut Command) -> &mut Command {
    cmd.args(["-protocol_whitelist", PROTOCOLS, "-format_whitelist", FORMATS])
}

/// A playlist or manifest by its first bytes, whatever the file is called.
fn playlist_kind(head: &[u8]) -> Option<&'static str> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let head = &head[start..];
    let starts = |p: &[u8]| head.len() >= p.len() && head[..p.len()].eq_ignore_ascii_case(p);
    if starts(b"#EXTM3U") {
        Some("an HLS playlist (#EXTM3U)")
    } else if starts(b"ffconcat") {
        Some("an ffmpeg concat list")
    } else if starts(b"[playlist]") {
        Some("a PLS playlist")
    } else if (starts(b"<?xml") || starts(b"<MPD")) && head.windows(4).any(|w| w == b"<MPD") {
        Some("a DASH manifest (MPD)")
    } else {
        None
    }
}

fn refuse_playlist(head: &[u8]) -> Result<(), AudioError> {
    match playlist_kind(head) {
        Some(kind) => Err(AudioError::NotAudio {
            detail: format!(
                "it is {kind}, not a recording: playlists name other files or URLs, which echome never opens; upload the recording itself"
            ),
        }),
        None => Ok(()),
    }
}

fn file_head(input: &Path) -> Result<Vec<u8>, AudioError> {
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(input)
        .and_then(|f| f.take(1024).read_to_end(&mut head))
        .map_err(|e| AudioError::io(format!("reading {}", input.display()), e))?;
    Ok(head)
}

/// What ffmpeg says about the input before decoding it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub container: String,
    pub codec: String,
    pub sample_rate_hz: u32,
    pub channels: u32,
    pub sample_fmt: String,
    pub declared_duration_s: Option<f64>,
    /// A video track makes the container's duration that of the longest stream, not the audio's.
    pub has_video: bool,
}

impl Probe {
    /// 24 bits for lossless sources deeper than 16 bits, 16 for everything else.
    pub fn pack_bits(&self) -> u16 {
        let deep = self.sample_fmt.contains("24 bit")
            || self.sample_fmt.starts_with("s32")
            || self.sample_fmt.starts_with("flt")
            || self.sample_fmt.starts_with("dbl");
        let lossy =
            ["mp3", "aac", "opus", "vorbis", "amr", "gsm", "wma"].iter().any(|c| self.codec.starts_with(c));
        if deep && !lossy { 24 } else { 16 }
    }
}

fn run_error(e: std::io::Error) -> AudioError {
    AudioError::DecoderUnavailable { detail: format!("{} ({e})", ffmpeg_path().display()) }
}

/// Reads the container header; fails with a specific error for what is not a usable recording.
pub fn probe(input: &Path) -> Result<Probe, AudioError> {
    let meta =
        std::fs::metadata(input).map_err(|e| AudioError::io(format!("reading {}", input.display()), e))?;
    if meta.len() == 0 {
        return Err(AudioError::EmptyFile);
    }
    refuse_playlist(&file_head(input)?)?;
    let probe = parse_probe(&probe_text(input)?)?;
    if probe.container == "wav" {
        check_wav_length(input, meta.len())?;
    }
    Ok(probe)
}

/// What ffmpeg prints about the input (its stderr), under the input guard.
fn probe_text(input: &Path) -> Result<String, AudioError> {
    let out = input_guard(Command::new(ffmpeg_path()).args(["-hide_banner", "-nostdin"]))
        .arg("-i")
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .map_err(run_error)?;
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// ffmpeg sizes a WAV by the file, so a cut-off WAV looks whole to it: compare with the header.
fn check_wav_length(input: &Path, file_len: u64) -> Result<(), AudioError> {
    let mut f = std::io::BufReader::new(
        std::fs::File::open(input).map_err(|e| AudioError::io(format!("reading {}", input.display()), e))?,
    );
    if let Ok((offset, Some(len), byte_rate)) = crate::wav::declared_extent(&mut f)
        && byte_rate > 0
        && offset + len > file_len + 1
    {
        let have = file_len.saturating_sub(offset);
        return Err(AudioError::Truncated {
            declared_s: len as f64 / byte_rate as f64,
            decoded_s: have as f64 / byte_rate as f64,
        });
    }
    Ok(())
}

pub fn parse_probe(text: &str) -> Result<Probe, AudioError> {
    let input_line = text.lines().find(|l| l.starts_with("Input #0, "));
    let Some(input_line) = input_line else {
        let reason = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.contains("At least one output file"))
            .unwrap_or("unrecognized data")
            .trim();
        // ffmpeg prefixes the path: keep only what it says after the last ": ".
        let reason = reason.rsplit(": ").next().unwrap_or(reason).to_owned();
        return Err(if text.contains("moov atom not found") || text.contains("Invalid frame") {
            AudioError::Corrupt { detail: reason }
        } else if text.contains("not on whitelist") {
            AudioError::NotAudio {
                detail: "its container is not one echome reads (audio and video files such as WAV, MP3, M4A/MP4, WebM/MKV, OGG, FLAC; no playlists)".into(),
            }
        } else {
            AudioError::NotAudio { detail: reason }
        });
    };
    let container = input_line["Input #0, ".len()..].split(", from").next().unwrap_or("").trim().to_owned();
    let declared_duration_s = text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Duration: ")?;
        let hms = rest.split(',').next()?;
        let mut parts = hms.split(':');
        let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
        Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
    });
    let audio = text.lines().find_map(|l| l.split_once(": Audio: ").map(|(_, a)| a.to_owned()));
    let Some(audio) = audio else {
        return Err(AudioError::NoAudioStream { detail: format!("container {container}") });
    };
    // "pcm_s24le ([1][0][0][0] / 0x0001), 48000 Hz, stereo, s32 (24 bit), 2304 kb/s"
    let fields = split_top_level(&audio);
    let codec =
        fields.first().map(|c| c.split_whitespace().next().unwrap_or("").to_owned()).unwrap_or_default();
    let sample_rate_hz =
        fields.iter().find_map(|f| f.strip_suffix(" Hz").and_then(|n| n.trim().parse().ok())).unwrap_or(0);
    let channels = fields.get(2).map_or(1, |c| channel_count(c));
    let sample_fmt = fields.get(3).cloned().unwrap_or_default();
    if sample_rate_hz == 0 {
        return Err(AudioError::Corrupt { detail: format!("no sample rate in the audio stream ({audio})") });
    }
    let has_video = text.lines().any(|l| l.contains(": Video: "));
    Ok(Probe { container, codec, sample_rate_hz, channels, sample_fmt, declared_duration_s, has_video })
}

/// Splits at commas outside brackets.
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur.trim().to_owned());
    out
}

fn channel_count(layout: &str) -> u32 {
    match layout.split('(').next().unwrap_or("").trim() {
        "mono" => 1,
        "stereo" | "downmix" => 2,
        "2.1" | "3.0" => 3,
        "quad" | "4.0" | "3.1" => 4,
        "5.0" | "4.1" => 5,
        "5.1" | "6.0" => 6,
        "7.1" => 8,
        other => other.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(1),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ExtractConfig {
    /// Longer recordings are refused before decoding.
    pub max_duration_s: f64,
    /// More recovered decoding errors than this make the file corrupt.
    pub max_decode_errors: u32,
    /// Which channel of a stereo recording is kept (a call recording's caller leg); a mono
    /// recording has only the one.
    pub channel: RecordingChannel,
    /// The full-quality copy's rate and depth when it must match another recording's (pieces of
    /// several calls joined into one); `None`: the source's own.
    pub source_format: Option<(u32, u16)>,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        Self {
            max_duration_s: 4.0 * 3600.0,
            max_decode_errors: 2,
            channel: RecordingChannel::Mixed,
            source_format: None,
        }
    }
}

/// ffmpeg's arguments that make one mono stream: the channel asked for, or all mixed down.
fn mono_args(channel: RecordingChannel, channels: u32) -> [&'static str; 2] {
    match channel {
        RecordingChannel::Left if channels >= 2 => ["-af", "pan=mono|c0=c0"],
        RecordingChannel::Right if channels >= 2 => ["-af", "pan=mono|c0=c1"],
        _ => ["-ac", "1"],
    }
}

/// Decodes `input` once: the full-quality mono copy goes to `source_out` (WAV at the source's
/// own rate, resampled only when `source_format` asks), and 16 kHz mono analysis audio is
/// handed to `on_analysis` block by block as it is decoded.
pub fn extract(
    input: &Path,
    source_out: &Path,
    cfg: &ExtractConfig,
    mut on_analysis: impl FnMut(&[f32]),
) -> Result<SourceInfo, AudioError> {
    let probe = probe(input)?;
    if let Some(d) = probe.declared_duration_s
        && d > cfg.max_duration_s
    {
        return Err(AudioError::TooLong { duration_s: d, limit_s: cfg.max_duration_s });
    }
    let (rate, bits) = cfg.source_format.unwrap_or((probe.sample_rate_hz, probe.pack_bits()));
    let mono = mono_args(cfg.channel, probe.channels);
    if cfg.channel != RecordingChannel::Mixed && probe.channels < 2 {
        tracing::info!(channels = probe.channels, "one channel only: the recording is used as it is");
    }
    let codec = if bits == 24 { "pcm_s24le" } else { "pcm_s16le" };
    let rate_arg = rate.to_string();
    let mut child = input_guard(Command::new(ffmpeg_path()).args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-v",
        "error",
    ]))
    .arg("-i")
    .arg(input)
    // Full quality: mono (downmixed before anything else), the source's own rate unless asked.
    .args(["-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1"])
    .args(mono)
    .args(["-ar", &rate_arg])
    .args(["-c:a", codec])
    .args(["-f", "wav", "-bitexact", "-y"])
    .arg(source_out)
    // Analysis: mono, then 16 kHz.
    .args(["-map", "0:a:0", "-vn", "-sn", "-dn"])
    .args(mono)
    .args(["-ar", &RATE.to_string()])
    .args(["-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(run_error)?;

    let stderr = child.stderr.take().ok_or_else(|| AudioError::io("starting ffmpeg", "no stderr"))?;
    let errors = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
    });
    let mut stdout = child.stdout.take().ok_or_else(|| AudioError::io("starting ffmpeg", "no stdout"))?;
    let mut bytes = vec![0u8; 64 * 1024];
    let mut carry: Option<u8> = None;
    let mut samples: Vec<f32> = Vec::with_capacity(32 * 1024);
    let mut decoded: u64 = 0;
    loop {
        let n = match stdout.read(&mut bytes) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(AudioError::io("reading decoded audio", e)),
        };
        samples.clear();
        let mut data = &bytes[..n];
        if let Some(lo) = carry.take() {
            samples.push(i16::from_le_bytes([lo, data[0]]) as f32 / 32768.0);
            data = &data[1..];
        }
        let pairs = data.chunks_exact(2);
        carry = pairs.remainder().first().copied();
        samples.extend(pairs.map(|p| i16::from_le_bytes([p[0], p[1]]) as f32 / 32768.0));
        decoded += samples.len() as u64;
        on_analysis(&samples);
    }
    let status = child.wait().map_err(|e| AudioError::io("waiting for ffmpeg", e))?;
    let errors = errors.join().unwrap_or_default();
    let duration_s = decoded as f64 / RATE as f64;
    let first_error = || errors.first().cloned().unwrap_or_else(|| "ffmpeg failed".into());
    if !status.success() {
        return Err(AudioError::Corrupt { detail: first_error() });
    }
    if decoded == 0 {
        return Err(if errors.is_empty() {
            AudioError::Corrupt { detail: "no audio could be decoded".into() }
        } else {
            AudioError::Corrupt { detail: first_error() }
        });
    }
    if errors.len() as u32 > cfg.max_decode_errors {
        return Err(AudioError::Corrupt {
            detail: format!("{} decoding errors, the first: {}", errors.len(), first_error()),
        });
    }
    if let Some(declared) = probe.declared_duration_s
        && !probe.has_video
        && declared - duration_s > 1.0_f64.max(0.02 * declared)
    {
        return Err(AudioError::Truncated { declared_s: declared, decoded_s: duration_s });
    }
    Ok(SourceInfo {
        container: probe.container,
        codec: probe.codec,
        sample_rate_hz: probe.sample_rate_hz,
        channels: probe.channels,
        declared_duration_s: probe.declared_duration_s,
        duration_s,
        pack_rate_hz: rate,
        pack_bits: bits,
        decode_errors: errors.len() as u32,
    })
}

/// Re-encodes audio held in memory (speech answers: a few hundred KB) through ffmpeg pipes.
/// `out_args` name the output codec and container, e.g. `["-c:a", "libopus", "-f", "ogg"]`.
pub fn transcode(input: &[u8], out_args: &[&str]) -> Result<Vec<u8>, AudioError> {
    refuse_playlist(&input[..input.len().min(1024)])?;
    let mut child = input_guard(Command::new(ffmpeg_path()).args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-v",
        "error",
    ]))
    .args(["-i", "pipe:0"])
    .args(out_args)
    .arg("pipe:1")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(run_error)?;
    let mut stdin = child.stdin.take().ok_or_else(|| AudioError::io("starting ffmpeg", "no stdin"))?;
    let data = input.to_vec();
    // Written from a thread: ffmpeg may fill stdout before it has read all of stdin.
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().map_err(|e| AudioError::io("running ffmpeg", e))?;
    let written = writer.join().map_err(|_| AudioError::io("feeding ffmpeg", "the writer stopped"))?;
    if !out.status.success() {
        let detail =
            String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("ffmpeg failed").to_owned();
        return Err(AudioError::Corrupt { detail });
    }
    written.map_err(|e| AudioError::io("feeding ffmpeg", e))?;
    Ok(out.stdout)
}

/// OGG/Opus at 48 kHz mono, what messaging apps play.
pub const OGG_OPUS: &[&str] = &["-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_wav_probe() {
        let text = "Input #0, wav, from 'a.wav':\n  Duration: 00:01:02.50, bitrate: 2304 kb/s\n  Stream #0:0: Audio: pcm_s24le ([1][0][0][0] / 0x0001), 48000 Hz, stereo, s32 (24 bit), 2304 kb/s\nAt least one output file must be specified\n";
        let p = parse_probe(text).unwrap();
        assert_eq!(p.container, "wav");
        assert_eq!(p.codec, "pcm_s24le");
        assert_eq!((p.sample_rate_hz, p.channels), (48000, 2));
        assert_eq!(p.declared_duration_s, Some(62.5));
        assert_eq!(p.pack_bits(), 24);
    }

    #[test]
    fn parses_an_mp4_with_video() {
        let text = "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'v.mp4':\n  Duration: 00:00:10.00, start: 0.000000, bitrate: 300 kb/s\n  Stream #0:0[0x1](und): Video: h264 (High), yuv420p, 320x240, 25 fps\n  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s (default)\n";
        let p = parse_probe(text).unwrap();
        assert_eq!(p.container, "mov,mp4,m4a,3gp,3g2,mj2");
        assert_eq!((p.codec.as_str(), p.sample_rate_hz, p.channels), ("aac", 44100, 1));
        assert_eq!(p.pack_bits(), 16);
    }

    #[test]
    fn transcodes_speech_to_ogg_opus_in_memory() {
        let tone: Vec<u8> = {
            let mut out = Vec::new();
            let mut w = crate::wav::WavWriter::new(std::io::Cursor::new(&mut out), 16_000, 16).unwrap();
            let samples: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
            w.write(&samples).unwrap();
            w.finish().unwrap();
            out
        };
        let ogg = transcode(&tone, OGG_OPUS).unwrap();
        assert!(ogg.starts_with(b"OggS"), "an OGG container");
        assert!(ogg.windows(8).any(|w| w == b"OpusHead"), "holding Opus");
        assert_eq!(transcode(b"not audio", OGG_OPUS).unwrap_err().code(), "corrupt_audio");
    }

    /// A port nothing should ever connect to, and whether anything did.
    struct Tripwire(std::net::TcpListener);

    impl Tripwire {
        fn new() -> Self {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            Self(l)
        }
        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}/{path}", self.0.local_addr().unwrap().port())
        }
        fn touched(&self) -> bool {
            self.0.accept().is_ok()
        }
    }

    /// A real playlist, named as an upload would be, that points at a URL and at another local
    /// file holding real audio (which ffmpeg would otherwise decode as the "recording").
    fn playlist(dir: &Path, wire: &Tripwire) -> PathBuf {
        let other = dir.join("elsewhere.ts");
        let ok = Command::new(ffmpeg_path())
            .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=300:duration=2"])
            .args(["-c:a", "aac", "-f", "mpegts"])
            .arg(&other)
            .status()
            .unwrap();
        assert!(ok.success());
        let text = format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{}\n#EXTINF:2.0,\nelsewhere.ts\n#EXTINF:2.0,\nfile://{}\n#EXT-X-ENDLIST\n",
            wire.url("seg.ts"),
            other.display()
        );
        let path = dir.join("call.mp3");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_playlist_uploaded_as_a_sample_is_refused_and_nothing_it_names_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let wire = Tripwire::new();
        let list = playlist(dir.path(), &wire);

        let err = probe(&list).unwrap_err();
        assert_eq!(err.code(), "not_audio", "{err}");
        assert!(err.to_string().contains("HLS playlist"), "{err}");
        let source = dir.path().join("source.wav");
        let err = extract(&list, &source, &ExtractConfig::default(), |_| {}).unwrap_err();
        assert_eq!(err.code(), "not_audio", "{err}");
        assert!(!source.exists(), "nothing was decoded");
        let err = transcode(&std::fs::read(&list).unwrap(), OGG_OPUS).unwrap_err();
        assert!(err.to_string().contains("HLS playlist"), "{err}");
        assert!(!wire.touched(), "no URL was fetched");
    }

    #[test]
    fn ffmpeg_itself_is_held_to_local_files_and_plain_containers() {
        // Past the first-bytes check too: the guard on the command line refuses the demuxer.
        let dir = tempfile::tempdir().unwrap();
        let wire = Tripwire::new();
        let text = probe_text(&playlist(dir.path(), &wire)).unwrap();
        assert!(!text.contains("Input #0"), "ffmpeg opened the playlist: {text}");
        assert!(text.contains("not on whitelist"), "{text}");
        assert_eq!(parse_probe(&text).unwrap_err().code(), "not_audio");
        assert!(!wire.touched(), "no URL was fetched");
    }

    #[test]
    fn playlists_are_known_by_their_first_bytes() {
        assert!(playlist_kind(b"\xef\xbb\xbf  #extm3u\n").is_some());
        assert!(playlist_kind(b"ffconcat version 1.0\nfile a.wav").is_some());
        assert!(playlist_kind(b"<?xml version=\"1.0\"?><MPD xmlns=\"urn:mpeg:dash\">").is_some());
        assert!(playlist_kind(b"RIFF\x24\x00\x00\x00WAVEfmt ").is_none());
        assert!(playlist_kind(b"ID3\x04\x00").is_none());
        assert!(playlist_kind(b"").is_none());
    }

    #[test]
    fn names_what_is_wrong() {
        let e = parse_probe("/tmp/x.wav: Invalid data found when processing input\n").unwrap_err();
        assert_eq!(e.code(), "not_audio");
        assert!(e.to_string().contains("Invalid data found"), "{e}");
        let e = parse_probe(
            "Input #0, mov,mp4, from 'v.mp4':\n  Duration: 00:00:10.00\n  Stream #0:0: Video: h264\n",
        )
        .unwrap_err();
        assert_eq!(e.code(), "no_audio_stream");
    }
}
