//! How fast the encoder embeds: `embed_speed WEIGHTS SECONDS [CLIP_S]` embeds SECONDS of a
//! synthetic voiced signal cut into clips of CLIP_S seconds, and prints partials per second.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let weights = args.first().expect("usage: embed_speed WEIGHTS SECONDS [CLIP_S]");
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let clip_s: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4.0);
    let encoder = echome_voiceprint::Encoder::load(std::path::Path::new(weights)).expect("weights");
    let n = (seconds * 16_000.0) as usize;
    let wav: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.1 * ((t * 2.0 * std::f32::consts::PI * 120.0).sin()
                + 0.5 * (t * 2.0 * std::f32::consts::PI * 240.0 * (1.0 + 0.1 * (t * 3.0).sin())).sin())
        })
        .collect();
    let clips: Vec<&[f32]> = wav.chunks((clip_s * 16_000.0) as usize).collect();
    let started = Instant::now();
    let out = encoder.embed_all(&clips);
    let took = started.elapsed().as_secs_f64();
    println!(
        "{} clips of {clip_s} s ({seconds} s of audio) in {took:.3} s: {:.1} s of audio per second",
        out.len(),
        seconds / took
    );
}
