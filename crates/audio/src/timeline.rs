//! The picture next to the report: the recording's level over time, every chunk of sound by
//! class, every embedded chunk by speaker (its similarity to the main speaker, from the main
//! speaker's green to another person's purple), and the ranges that went into the pack. Plain
//! SVG, readable in any browser.

use crate::analysis::{LevelBin, TIMELINE_BIN_S};
use crate::classify::Class;
use crate::report::Report;

const W: f64 = 1200.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 20.0;
const PLOT_W: f64 = W - LEFT - RIGHT;

fn color(c: Class) -> &'static str {
    match c {
        Class::Speech => "#2e7d32",
        Class::NoisySpeech => "#f9a825",
        Class::OtherSpeaker => "#6a1b9a",
        Class::Music => "#1565c0",
        Class::Noise => "#757575",
    }
}

fn label(c: Class) -> &'static str {
    match c {
        Class::Speech => "clean speech",
        Class::NoisySpeech => "noisy speech / music bed",
        Class::OtherSpeaker => "other speaker",
        Class::Music => "music",
        Class::Noise => "noise",
    }
}

fn clock(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Renders the timeline; `title` is shown at the top (the recording's name).
pub fn render(report: &Report, levels: &[LevelBin], title: &str) -> String {
    let dur = report.source.duration_s.max(1e-3);
    let x = |t: f64| LEFT + PLOT_W * (t / dur).clamp(0.0, 1.0);
    let mut s = String::new();
    let h = 332.0;
    let mut w = |text: String| s.push_str(&text);
    w(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}</text>
<text x="{LEFT}" y="38" fill="#444">{:.1} s selected of {:.1} s clean speech ({:.1} s speech in all) · {} · {} file(s)</text>
"##,
        escape(title),
        report.totals.selected_s,
        report.totals.usable_s,
        report.totals.speech_s,
        clock(dur),
        report.samples.len()
    ));

    // Level lane: peak level per second, −60…0 dBFS.
    let (top, lane_h) = (55.0, 90.0);
    w(format!(r##"<text x="10" y="{}" fill="#333">level</text>"##, top + lane_h / 2.0));
    w(format!(
        r##"<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{lane_h}" fill="#fafafa" stroke="#ddd"/>"##
    ));
    let cols = PLOT_W as usize;
    let mut pts = String::new();
    for col in 0..cols {
        let (t0, t1) = (dur * col as f64 / cols as f64, dur * (col + 1) as f64 / cols as f64);
        let (i0, i1) = (
            (t0 / TIMELINE_BIN_S) as usize,
            ((t1 / TIMELINE_BIN_S).ceil() as usize).max((t0 / TIMELINE_BIN_S) as usize + 1),
        );
        let peak = levels
            .get(i0..i1.min(levels.len()))
            .unwrap_or(&[])
            .iter()
            .map(|b| b.peak_db)
            .fold(-60.0f32, f32::max);
        let y = top + lane_h * (1.0 - ((peak as f64 + 60.0) / 60.0).clamp(0.0, 1.0));
        pts.push_str(&format!("{:.1},{:.1} ", LEFT + col as f64, y));
    }
    w(format!(r##"<polyline points="{pts}" fill="none" stroke="#455a64" stroke-width="1"/>"##));
    w(format!(r##"<text x="{}" y="{}" fill="#999" font-size="10">0 dBFS</text>"##, LEFT - 45.0, top + 10.0));
    w(format!(r##"<text x="{}" y="{}" fill="#999" font-size="10">−60</text>"##, LEFT - 30.0, top + lane_h));

    // Class lane.
    let top2 = top + lane_h + 15.0;
    w(format!(r##"<text x="10" y="{}" fill="#333">detected</text>"##, top2 + 14.0));
    w(format!(
        r##"<rect x="{LEFT}" y="{top2}" width="{PLOT_W}" height="22" fill="#fafafa" stroke="#ddd"/>"##
    ));
    for seg in &report.segments {
        let (x0, x1) = (x(seg.start_s), x(seg.end_s));
        w(format!(
            r##"<rect x="{x0:.1}" y="{top2}" width="{:.1}" height="22" fill="{}"><title>{} {}–{} (SNR {:.0} dB)</title></rect>"##,
            (x1 - x0).max(0.6),
            color(seg.class),
            label(seg.class),
            clock(seg.start_s),
            clock(seg.end_s),
            seg.snr_db
        ));
    }

    // Speaker lane: embedded chunks by similarity to the main speaker.
    let top_s = top2 + 32.0;
    w(format!(r##"<text x="10" y="{}" fill="#333">speaker</text>"##, top_s + 14.0));
    w(format!(
        r##"<rect x="{LEFT}" y="{top_s}" width="{PLOT_W}" height="22" fill="#fafafa" stroke="#ddd"/>"##
    ));
    for seg in &report.segments {
        let Some(sim) = seg.similarity else { continue };
        let (x0, x1) = (x(seg.start_s), x(seg.end_s));
        w(format!(
            r##"<rect x="{x0:.1}" y="{top_s}" width="{:.1}" height="22" fill="{}"><title>{}–{}: similarity {sim:.2} to the main speaker</title></rect>"##,
            (x1 - x0).max(0.6),
            speaker_color(sim),
            clock(seg.start_s),
            clock(seg.end_s),
        ));
    }

    // Selection lane.
    let top3 = top_s + 32.0;
    w(format!(r##"<text x="10" y="{}" fill="#333">in the pack</text>"##, top3 + 14.0));
    w(format!(
        r##"<rect x="{LEFT}" y="{top3}" width="{PLOT_W}" height="22" fill="#fafafa" stroke="#ddd"/>"##
    ));
    for sample in &report.samples {
        for iv in &sample.source_intervals {
            let (x0, x1) = (x(iv[0]), x(iv[1]));
            w(format!(
                r##"<rect x="{x0:.1}" y="{top3}" width="{:.1}" height="22" fill="#d84315"><title>{} {}–{}</title></rect>"##,
                (x1 - x0).max(0.8),
                escape(&sample.path),
                clock(iv[0]),
                clock(iv[1])
            ));
        }
    }

    // Time axis.
    let axis_y = top3 + 38.0;
    let step = [1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0]
        .into_iter()
        .find(|s| dur / s <= 12.0)
        .unwrap_or(7200.0);
    let mut t = 0.0;
    while t <= dur + 1e-9 {
        w(format!(
            r##"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1}" stroke="#eee"/>"##,
            x(t),
            axis_y - 12.0
        ));
        w(format!(
            r##"<text x="{:.1}" y="{axis_y}" text-anchor="middle" fill="#555">{}</text>"##,
            x(t),
            clock(t)
        ));
        t += step;
    }

    // Legend.
    let ly = axis_y + 25.0;
    let mut lx = LEFT;
    for c in [Class::Speech, Class::NoisySpeech, Class::OtherSpeaker, Class::Music, Class::Noise] {
        w(format!(
            r##"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{ly}">{}</text>"##,
            ly - 10.0,
            color(c),
            lx + 16.0,
            label(c)
        ));
        lx += 30.0 + 7.0 * label(c).len() as f64;
    }
    w(format!(
        r##"<rect x="{lx}" y="{}" width="12" height="12" fill="#d84315"/><text x="{}" y="{ly}">selected</text>"##,
        ly - 10.0,
        lx + 16.0
    ));
    lx += 30.0 + 7.0 * "selected".len() as f64;
    for (sim, text) in [(0.9, "main speaker"), (0.5, "another voice")] {
        w(format!(
            r##"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{ly}">{text}</text>"##,
            ly - 10.0,
            speaker_color(sim),
            lx + 16.0
        ));
        lx += 30.0 + 7.0 * text.len() as f64;
    }
    if !report.warnings.is_empty() {
        let text: Vec<&str> = report.warnings.iter().map(|w| w.code).collect();
        w(format!(
            r##"<text x="{LEFT}" y="{}" fill="#b71c1c">warnings: {}</text>"##,
            ly + 22.0,
            text.join(", ")
        ));
    }
    w("</svg>\n".into());
    s
}

/// Similarity to the main speaker as a colour: at 0.85 and above the main speaker's green
/// (the class lane's clean speech), at 0.6 and below another person's purple.
fn speaker_color(similarity: f32) -> String {
    let t = ((similarity - 0.6) / 0.25).clamp(0.0, 1.0);
    let mix = |a: f32, b: f32| (a + (b - a) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(106.0, 46.0), mix(27.0, 125.0), mix(154.0, 50.0))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::speaker_color;

    #[test]
    fn the_main_speaker_is_green_and_another_voice_purple() {
        assert_eq!(speaker_color(0.95), "#2e7d32");
        assert_eq!(speaker_color(0.40), "#6a1b9a");
        assert_ne!(speaker_color(0.72), speaker_color(0.80));
    }
}
