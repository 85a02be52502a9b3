//! Whether a sample from a call replaces the caller's active voice. Every call can leave a
//! sample; cloning each one would spend a clone and a voice slot per call and could swap a good
//! voice for a worse one. A call's pack replaces the active voice only when it has clearly more
//! clean speech, or clearly cleaner speech, than the pack that voice was made from. (A sample
//! someone uploads always clones: a person chose it.)

use crate::error::StepError;
use crate::quality::PackFigures;

/// Past this much selected speech more adds little: ElevenLabs asks for 1–2 minutes of clean
/// audio and "no more than 3" (../shared/reference/elevenlabs-api-notes.md).
pub const ENOUGH_SPEECH_S: f64 = 120.0;
/// "Clearly more": half as much again, and at least this many seconds more.
pub const MORE_FACTOR: f64 = 1.5;
pub const MORE_AT_LEAST_S: f64 = 15.0;
/// "Clearly cleaner": this much higher signal-to-noise ratio, with at least
/// [`CLEANER_KEEPS`] of the speech.
pub const CLEANER_BY_DB: f64 = 6.0;
pub const CLEANER_KEEPS: f64 = 0.75;

/// What a pack offers a clone, from its report's figures (segment-audio's `report.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackMerit {
    /// Seconds of speech selected into the pack.
    pub selected_s: f64,
    /// The pack files' signal-to-noise ratio, weighted by their length.
    pub snr_db: Option<f64>,
    /// Telephone bandwidth (8 kHz): a wideband pack is cleaner whatever its SNR.
    pub narrowband: bool,
}

impl PackMerit {
    pub fn from_report(report: &[u8]) -> Result<Self, StepError> {
        Ok(Self::of(&PackFigures::from_report(report)?))
    }

    pub fn of(pack: &PackFigures) -> Self {
        Self { selected_s: pack.selected_s(), snr_db: pack.snr_db(), narrowband: pack.narrowband() }
    }
}

/// Why a call's pack replaces the active voice (`Ok`), or why it does not (`Err`, said for the
/// clone log).
pub fn replaces(new: &PackMerit, active: &PackMerit) -> Result<&'static str, String> {
    if new.narrowband && !active.narrowband {
        return Err("a telephone-band pack does not replace a voice made from wideband audio".into());
    }
    let keeps = new.selected_s >= CLEANER_KEEPS * active.selected_s;
    if !new.narrowband && active.narrowband && keeps {
        return Ok("wideband speech where the voice was made from telephone audio");
    }
    let more = active.selected_s < ENOUGH_SPEECH_S
        && new.selected_s >= MORE_FACTOR * active.selected_s
        && new.selected_s - active.selected_s >= MORE_AT_LEAST_S;
    if more {
        return Ok("clearly more clean speech than the voice was made from");
    }
    let cleaner = match (new.snr_db, active.snr_db) {
        (Some(n), Some(a)) => n >= a + CLEANER_BY_DB,
        _ => false,
    };
    if cleaner && keeps {
        return Ok("clearly cleaner speech than the voice was made from");
    }
    Err(format!(
        "{:.0} s of speech at {} against the active voice's {:.0} s at {}: not clearly more or cleaner",
        new.selected_s,
        snr(new.snr_db),
        active.selected_s,
        snr(active.snr_db)
    ))
}

fn snr(v: Option<f64>) -> String {
    v.map_or_else(|| "unknown SNR".into(), |v| format!("{v:.0} dB SNR"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merit(selected_s: f64, snr_db: f64, narrowband: bool) -> PackMerit {
        PackMerit { selected_s, snr_db: Some(snr_db), narrowband }
    }

    #[test]
    fn reads_a_segment_audio_report() {
        let report = br#"{"source":{"narrowband":true},"samples":[
            {"duration_s":30.0,"snr_db":20.0,"clipping_ratio":0.0,"rms_dbfs":-20.0,"true_peak_dbtp":-3.0},
            {"duration_s":10.0,"snr_db":40.0,"clipping_ratio":0.0,"rms_dbfs":-20.0,"true_peak_dbtp":-3.0}],
            "totals":{"selected_s":40.0,"speech_s":55.0}}"#;
        let m = PackMerit::from_report(report).unwrap();
        assert_eq!(m, merit(40.0, 25.0, true));
        assert!(PackMerit::from_report(b"{\"samples\": 3}").is_err());
    }

    #[test]
    fn more_speech_counts_only_when_clearly_more_and_while_the_voice_has_too_little() {
        let active = merit(40.0, 20.0, true);
        assert!(replaces(&merit(60.0, 20.0, true), &active).is_ok(), "1.5x and 20 s more");
        assert!(replaces(&merit(59.0, 20.0, true), &active).is_err(), "not 1.5x");
        let short = merit(12.0, 20.0, true);
        assert!(replaces(&merit(26.0, 20.0, true), &short).is_err(), "only 14 s more");
        assert!(replaces(&merit(27.0, 20.0, true), &short).is_ok());
        let plenty = merit(130.0, 20.0, true);
        assert!(replaces(&merit(180.0, 20.0, true), &plenty).is_err(), "past 2 minutes");
    }

    #[test]
    fn cleaner_speech_counts_when_it_keeps_most_of_the_speech() {
        let active = merit(60.0, 15.0, true);
        assert!(replaces(&merit(45.0, 21.0, true), &active).is_ok());
        assert!(replaces(&merit(44.0, 30.0, true), &active).is_err(), "too much less speech");
        let err = replaces(&merit(60.0, 20.0, true), &active).unwrap_err();
        assert!(err.contains("60 s of speech at 20 dB SNR") && err.contains("15 dB"), "{err}");
    }

    #[test]
    fn bandwidth_outranks_the_numbers() {
        let wide = merit(40.0, 15.0, false);
        assert!(replaces(&merit(120.0, 40.0, true), &wide).is_err());
        assert!(replaces(&merit(40.0, 10.0, false), &merit(40.0, 20.0, true)).is_ok());
        assert!(replaces(&merit(20.0, 30.0, false), &merit(40.0, 20.0, true)).is_err());
    }
}
