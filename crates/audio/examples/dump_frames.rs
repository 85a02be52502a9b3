//! Calibration aid: per-frame features of a 16 kHz mono WAV between two times.
use std::io::BufReader;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (from, to): (f64, f64) = (args[2].parse().unwrap_or(0.0), args[3].parse().unwrap_or(5.0));
    let mut r = BufReader::new(std::fs::File::open(&args[1])?);
    let layout = echome_audio::wav::read_header(&mut r)?;
    let mut s = echome_audio::wav::SampleStream::new(r, layout);
    let mut all = Vec::new();
    while s.next_block(&mut all)? > 0 {}
    let mut fa = echome_audio::features::FrameAnalyzer::new();
    for (i, hop) in all.chunks_exact(160).enumerate() {
        let f = fa.push_hop(hop);
        let t = i as f64 * 0.01;
        if t >= from && t < to {
            println!(
                "{t:6.2} e={:6.1} h={:.2} f0={:5.0} flat={:.2} tonal={:.2}",
                f.energy_db, f.harmonicity, f.f0_hz, f.flatness, f.tonal
            );
        }
    }
    Ok(())
}
