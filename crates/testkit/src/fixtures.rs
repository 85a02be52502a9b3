//! Records the tests of several crates share.

use echome_core::{BlobRef, SegmentOutput};

/// A sample pack as SegmentAudio leaves it under `runs/{run}/` in `bucket`: two files, noisy, a
/// warning, so a round trip through a store shows every field.
pub fn pack(bucket: &str, run: &str) -> SegmentOutput {
    let key = |n: &str| BlobRef::new(bucket, format!("runs/{run}/{n}"));
    SegmentOutput {
        samples: vec![key("sample_1.wav"), key("sample_2.wav")],
        report: key("report.json"),
        picture: key("timeline.svg"),
        speech_s: 1800.5,
        selected_s: 120.0,
        noisy: true,
        warnings: vec!["narrowband".into()],
    }
}
