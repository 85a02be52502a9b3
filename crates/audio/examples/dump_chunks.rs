//! Calibration aid: prints every chunk's statistics of a 16 kHz mono WAV as JSON lines.
use std::io::BufReader;

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: dump_chunks FILE.wav");
    let mut r = BufReader::new(std::fs::File::open(path)?);
    let layout = echome_audio::wav::read_header(&mut r)?;
    let mut s = echome_audio::wav::SampleStream::new(r, layout);
    let mut a = echome_audio::analysis::Analyzer::default();
    let mut buf = Vec::new();
    while s.next_block(&mut buf)? > 0 {
        a.push(&buf);
        buf.clear();
    }
    let an = a.finish();
    for c in &an.chunks {
        println!("{}", serde_json::to_string(c)?);
    }
    eprintln!("duration {:.1}s, {} chunks", an.duration_s, an.chunks.len());
    Ok(())
}
