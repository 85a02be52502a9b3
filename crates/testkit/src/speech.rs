use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::RATE;

/// An espeak-ng voice with fixed settings: one consistent speaker.
#[derive(Debug, Clone)]
pub struct Voice {
    pub name: &'static str,
    pub pitch: u32,
    pub speed: u32,
}

impl Voice {
    pub const MAIN: Voice = Voice { name: "en-us", pitch: 45, speed: 160 };
    pub const SECOND: Voice = Voice { name: "en-us+f3", pitch: 60, speed: 175 };

    /// Speaks one sentence; mono f32 at [`RATE`], peak-normalized to 0.5.
    pub fn speak(&self, text: &str, scratch_dir: &Path) -> anyhow::Result<Vec<f32>> {
        let path = scratch_dir.join("espeak.wav");
        let status = Command::new("espeak-ng")
            .args(["-v", self.name, "-p", &self.pitch.to_string(), "-s", &self.speed.to_string(), "-w"])
            .arg(&path)
            .arg(text)
            .status()
            .context("espeak-ng is not installed (make test installs it)")?;
        if !status.success() {
            bail!("espeak-ng failed for voice {}", self.name);
        }
        let mut file = std::fs::File::open(&path)?;
        let layout = echome_audio::wav::read_header(&mut file)?;
        if layout.format.sample_rate != RATE {
            bail!("espeak-ng wrote {} Hz, expected {RATE}", layout.format.sample_rate);
        }
        let mut stream = echome_audio::wav::SampleStream::new(file, layout);
        let mut samples = Vec::new();
        while stream.next_block(&mut samples)? > 0 {}
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if peak > 0.0 {
            samples.iter_mut().for_each(|s| *s *= 0.5 / peak);
        }
        // espeak pads with a little silence; trim it so pauses are ours to set.
        let first = samples.iter().position(|s| s.abs() > 0.01).unwrap_or(0);
        let last = samples.iter().rposition(|s| s.abs() > 0.01).map_or(samples.len(), |i| i + 1);
        Ok(samples[first..last].to_vec())
    }
}

/// Phone-call small talk for the speakers to read.
pub const SENTENCES: &[&str] = &[
    "Hello, I am calling about the invoice you sent me last week.",
    "I think there might be a mistake with the amount on the second page.",
    "Could you please check whether the payment has already gone through?",
    "My account number should be on the letter, let me find it for you.",
    "We moved house in the spring, so the address may still be the old one.",
    "I have been a customer for nearly eleven years now.",
    "The engineer was supposed to come on Tuesday morning but nobody arrived.",
    "Honestly, I would just like to know when the service will be back.",
    "Yes, that is right, the postcode starts with the letters south west.",
    "Can you tell me what the cancellation fee would be?",
    "I tried the website first, but it kept asking me to log in again.",
    "My daughter usually helps me with these things, but she is away.",
    "The broadband drops out every evening at about seven o'clock.",
    "Could you send me a copy of the contract by email instead of post?",
    "I understand, but that is not what I was told on the phone last time.",
    "Let me just grab a pen so I can write down the reference number.",
    "Is there anyone I could speak to about a refund for those months?",
    "The direct debit went out twice this month, which left me short.",
    "We are happy with the service otherwise, it is just this one problem.",
    "Would it be possible to arrange a call back tomorrow afternoon?",
    "I have already restarted the router three times today.",
    "Thank you, that is very helpful, I appreciate your patience.",
    "Sorry, could you repeat that last part a little more slowly?",
    "My wife's name is also on the account, if that makes any difference.",
    "The parcel was left outside in the rain and the box was soaked.",
    "I would like to change my tariff to the one without a landline.",
    "Our neighbour has the same provider and they never have any trouble.",
    "Perfect, so I should expect the new card within five working days.",
    "I am not sure I follow, are you saying the discount has ended?",
    "Please make a note that I called today, in case this happens again.",
    "The meter reading this morning was four thousand two hundred and six.",
    "I will be at work until six, so any time after that is fine.",
];
