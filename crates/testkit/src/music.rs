//! A small band: pad chords, bass, a plucked melody and drums. Enough harmony, held notes and
//! rhythm to fool a voice detector that only looks at energy and voicing.

use std::f32::consts::TAU;

use crate::{RATE, Rng};

const SCALE: [f32; 5] = [0.0, 2.0, 4.0, 7.0, 9.0];
const PROGRESSION: [[f32; 3]; 4] = [[0.0, 4.0, 7.0], [7.0, 11.0, 14.0], [9.0, 12.0, 16.0], [5.0, 9.0, 12.0]];

fn hz(semitones_from_a3: f32) -> f32 {
    220.0 * 2f32.powf(semitones_from_a3 / 12.0)
}

/// `seconds` of music, peak about 0.5.
pub fn render(seconds: f32, rng: &mut Rng) -> Vec<f32> {
    let n = (seconds * RATE as f32) as usize;
    let sr = RATE as f32;
    let mut out = vec![0.0f32; n];
    let bpm = rng.range(90.0, 128.0);
    let beat = 60.0 / bpm;
    let key = rng.range(-5.0, 5.0).round();
    let beats = (seconds / beat) as usize + 1;

    for b in 0..beats {
        let t0 = b as f32 * beat;
        let bar = b / 4;
        let chord = PROGRESSION[bar % 4];
        if b % 4 == 0 {
            // Pad: the chord held for the whole bar.
            for &semi in &chord {
                add_tone(&mut out, t0, 4.0 * beat, hz(key + semi - 12.0), 0.05, 0.15, &[1.0, 0.5, 0.3, 0.2]);
            }
        }
        // Bass on every beat.
        add_tone(&mut out, t0, beat * 0.9, hz(key + chord[0] - 24.0), 0.01, 0.1, &[1.0, 0.6, 0.3]);
        // Melody: a plucked note on most beats, some held for two.
        if rng.f32() < 0.8 {
            let semi = SCALE[rng.below(5)] + 12.0 * rng.below(2) as f32;
            let len = if rng.f32() < 0.3 { 2.0 * beat } else { beat };
            add_tone(&mut out, t0, len, hz(key + semi), 0.005, 0.12, &[1.0, 0.4, 0.25, 0.15, 0.1]);
        }
        // Drums: kick on 1 and 3, snare on 2 and 4, hats on eighths.
        let s = (t0 * sr) as usize;
        if b % 2 == 0 {
            kick(&mut out, s)
        } else {
            snare(&mut out, s, rng)
        }
        hat(&mut out, s, rng);
        hat(&mut out, s + (beat * sr / 2.0) as usize, rng);
    }
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    out.iter_mut().for_each(|s| *s *= 0.5 / peak);
    out
}

fn add_tone(out: &mut [f32], start_s: f32, len_s: f32, f: f32, attack: f32, gain: f32, harmonics: &[f32]) {
    let sr = RATE as f32;
    let start = (start_s * sr) as usize;
    let len = (len_s * sr) as usize;
    for i in 0..len {
        let Some(o) = out.get_mut(start + i) else { break };
        let t = i as f32 / sr;
        let env = (t / attack).min(1.0) * (1.0 - i as f32 / len as f32).powf(0.7);
        // A gentle 5 Hz vibrato of ±0.3 %, as phase so the frequency itself stays put.
        let phase = TAU * f * (t - 0.003 * (TAU * 5.0 * t).cos() / (TAU * 5.0));
        let s: f32 = harmonics.iter().enumerate().map(|(h, a)| a * (phase * (h + 1) as f32).sin()).sum();
        *o += gain * env * s;
    }
}

fn kick(out: &mut [f32], start: usize) {
    let sr = RATE as f32;
    let mut phase = 0.0f32;
    for i in 0..(0.25 * sr) as usize {
        let Some(o) = out.get_mut(start + i) else { break };
        let t = i as f32 / sr;
        phase += TAU * (50.0 + 100.0 * (-t * 30.0).exp()) / sr;
        *o += 0.6 * (-t * 12.0).exp() * phase.sin();
    }
}

fn snare(out: &mut [f32], start: usize, rng: &mut Rng) {
    let sr = RATE as f32;
    for i in 0..(0.15 * sr) as usize {
        let Some(o) = out.get_mut(start + i) else { break };
        let t = i as f32 / sr;
        *o += 0.3 * (-t * 25.0).exp() * (rng.gauss() * 0.5 + 0.5 * (TAU * 190.0 * t).sin());
    }
}

fn hat(out: &mut [f32], start: usize, rng: &mut Rng) {
    let sr = RATE as f32;
    let mut prev = 0.0f32;
    for i in 0..(0.04 * sr) as usize {
        let Some(o) = out.get_mut(start + i) else { break };
        let n = rng.gauss();
        let t = i as f32 / sr;
        *o += 0.08 * (-t * 90.0).exp() * (n - prev);
        prev = n;
    }
}
