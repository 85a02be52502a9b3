"""The original design, re-implemented faithfully as the benchmark's baseline.

Clean the whole file with ffmpeg (highpass 80 Hz, lowpass 8 kHz, afftdn, loudnorm), unpack it
into memory, run webrtc VAD at aggressiveness 2 over 30 ms frames (at 48 kHz, so that it runs at
all), and keep the three longest speech runs as the sample pack.

usage: baseline.py INPUT OUT_DIR   (writes sample_N.wav and report.json with source_intervals)
"""
import json
import os
import subprocess
import sys
import wave

import webrtcvad

RATE = 48000


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    chain = "highpass=f=80,lowpass=f=8000,afftdn,loudnorm"
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", src, "-af", chain, "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    vad = webrtcvad.Vad(2)
    frame = RATE * 30 // 1000 * 2
    runs, start = [], None
    for i in range(0, len(pcm) - frame + 1, frame):
        t = i / 2 / RATE
        if vad.is_speech(pcm[i : i + frame], RATE):
            start = t if start is None else start
        elif start is not None:
            runs.append((start, t))
            start = None
    if start is not None:
        runs.append((start, len(pcm) / 2 / RATE))
    longest = sorted(sorted(runs, key=lambda r: r[1] - r[0], reverse=True)[:3])
    samples = []
    for k, (s, e) in enumerate(longest):
        name = f"sample_{k + 1}.wav"
        with wave.open(os.path.join(out, name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm[int(s * RATE) * 2 : int(e * RATE) * 2])
        samples.append({"path": name, "duration_s": e - s, "source_intervals": [[s, e]]})
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump({"samples": samples}, f)


if __name__ == "__main__":
    main()
