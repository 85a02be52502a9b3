#!/usr/bin/env python3
"""Reference embeddings for crates/voiceprint/tests/reference.rs, made once with Resemblyzer
0.1.4's own code (torch, librosa) on the clips tools/voiceprint_clips.sh builds; the Rust
encoder must agree with them (cosine >= 0.99 per clip). Not run by `make test`: it needs torch.

    python3 -m venv /tmp/rz && /tmp/rz/bin/pip install torch librosa webrtcvad-wheels \
        && /tmp/rz/bin/pip install --no-deps resemblyzer==0.1.4
    tools/voiceprint_clips.sh /tmp/clips
    /tmp/rz/bin/python tools/voiceprint_reference.py /tmp/clips crates/voiceprint/tests/fixtures/reference.json

Each clip is embedded as `VoiceEncoder.embed_utterance(normalize_volume(wav, -30,
increase_only=True))`: `preprocess_wav` without its webrtcvad silence trimming, which echome
replaces with its own VAD (it embeds chunks already cut at pauses).
"""

import hashlib
import json
import sys
from pathlib import Path

import librosa
import numpy as np
import torch
from resemblyzer import VoiceEncoder, audio
from resemblyzer.hparams import audio_norm_target_dBFS

import resemblyzer


def main():
    clips, out = Path(sys.argv[1]), Path(sys.argv[2])
    encoder = VoiceEncoder("cpu", verbose=False)
    result = {
        "made_with": {
            "resemblyzer": getattr(resemblyzer, "__version__", "0.1.4"),
            "librosa": librosa.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "clips": {},
    }
    for path in sorted(clips.glob("*.wav")):
        wav, sr = librosa.load(str(path), sr=None)
        assert sr == 16000, path
        pcm = np.round(wav * 32768).astype(np.int16).tobytes()
        norm = audio.normalize_volume(wav, audio_norm_target_dBFS, increase_only=True)
        embed = encoder.embed_utterance(norm)
        entry = {
            "samples": len(wav),
            "pcm_sha256": hashlib.sha256(pcm).hexdigest(),
            "embedding": [round(float(v), 7) for v in embed],
        }
        if path.stem == "espeak_en_m":
            mel = audio.wav_to_mel_spectrogram(norm)
            entry["mel_frames_100_102"] = [[float(v) for v in row] for row in mel[100:103]]
        result["clips"][path.stem] = entry
    names = sorted(result["clips"])
    vecs = {n: np.array(result["clips"][n]["embedding"]) for n in names}
    result["cosine"] = {f"{a}|{b}": round(float(vecs[a] @ vecs[b]), 5) for i, a in enumerate(names) for b in names[i + 1:]}
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["cosine"], indent=1))


if __name__ == "__main__":
    main()
