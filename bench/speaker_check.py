"""Recordings of real speakers for the voiceprint check (`speaker_mismatch`), and its equal-error
rate: how often another person's recording passes as the caller (false accepts) against how
often the caller's own new recording is refused (false rejects), over every pair.

Speakers (Debian packages): asterisk-core-sounds-{en,es,fr,it,ru}-wav, telephone prompts at
8 kHz: Allison (en_US and es_MX: one woman in two languages, so a genuine pair may cross
languages), June (fr_CA), Carlo (it_IT) and IvrvoiceRU (ru_RU); and two wideband men, alsa-utils'
channel announcements and speech-dispatcher's message, each cut into two halves that share
no words, as recorded and as μ-law phone copies (so a genuine pair can be an upload against a
call). Each recording is about 40 s of one speaker (prompts are never shared between
recordings of a speaker), with short pauses and a low room noise, written at 16 kHz.

usage: python3 bench/speaker_check.py OUT_DIR [ECHOME_BINARY]
  writes OUT_DIR/*.wav and OUT_DIR/manifest.json; with the binary, compares every pair with
  `echome voices compare --json` and prints the equal-error rate and its threshold (also
  OUT_DIR/eer.json).
"""
import array
import json
import os
import random
import subprocess
import sys
import wave

RATE = 16000
ASTERISK = "/usr/share/asterisk/sounds"
SETS = [("allison", "en_US_f_Allison"), ("allison", "es_MX_f_Allison"), ("june", "fr_CA_f_June"),
        ("carlo", "it_IT_m_Carlo"), ("ivr_ru", "ru_RU_f_IvrvoiceRU")]
PER_SET = 4
SECONDS = 40.0
ALSA = "/usr/share/sounds/alsa"
ALSA_CLIPS = ["Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
              "Side_Left", "Side_Right"]
DISPATCHER = "/usr/share/sounds/speech-dispatcher/dummy-message.wav"


def decode(path, tempo=1.0):
    af = f"aresample={RATE},atempo={tempo:.4f}"
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-af", af, "-ac", "1", "-ar", str(RATE),
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    pcm = array.array("h")
    pcm.frombytes(raw)
    return pcm


def duration(path):
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def write(path, pcm):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def assemble(clips, rng):
    """The clips one after another with 0.3-0.7 s pauses, over a low room noise."""
    out = array.array("h")
    for c in clips:
        out.extend(c)
        out.extend([0] * int(rng.uniform(0.3, 0.7) * RATE))
    return array.array("h", (max(-32768, min(32767, s + int(rng.gauss(0, 40)))) for s in out))


def prompts(folder):
    """The set's sentence prompts (top level, at least 1.5 s), in a stable order."""
    names = sorted(f for f in os.listdir(folder) if f.endswith(".wav"))
    return [os.path.join(folder, f) for f in names if duration(os.path.join(folder, f)) >= 1.5]


def build(out):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(11)
    manifest = []
    for speaker, folder in SETS:
        pool = prompts(os.path.join(ASTERISK, folder))
        rng.shuffle(pool)
        for k in range(PER_SET):
            clips, total = [], 0.0
            while total < SECONDS and pool:
                p = pool.pop()
                clips.append(decode(p))
                total += len(clips[-1]) / RATE
            if total < SECONDS * 0.8:
                sys.exit(f"{folder}: too few prompts for {PER_SET} recordings of {SECONDS:.0f} s")
            path = os.path.join(out, f"{folder}_{k + 1}.wav")
            write(path, assemble(clips, rng))
            manifest.append({"path": path, "speaker": speaker, "set": folder, "telephone": True})
    # The two wideband men: each one's speech cut in two halves (no words shared), each half
    # said a few times at slightly different tempos, wideband and as a μ-law phone copy.
    for speaker, sources, times in (("alsa_man", [f"{ALSA}/{c}.wav" for c in ALSA_CLIPS], 6),
                                    ("dispatcher_man", [DISPATCHER], 3)):
        clips = [decode(p) for p in sources]
        if len(clips) == 1:
            half = len(clips[0]) // 2
            clips = [clips[0][:half], clips[0][half:]]
        halves = [clips[: len(clips) // 2], clips[len(clips) // 2:]]
        for k, half in enumerate(halves):
            said = [array.array("h", c) for _ in range(times) for c in half]
            rng.shuffle(said)
            path = os.path.join(out, f"{speaker}_{k + 1}.wav")
            write(path, assemble(said, rng))
            phone = path.replace(".wav", ".phone.wav")
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", path, "-af", "highpass=f=300,lowpass=f=3400",
                            "-ar", "8000", "-c:a", "pcm_mulaw", phone], check=True)
            manifest.append({"path": path, "speaker": speaker, "set": f"{speaker}_{k + 1}", "telephone": False})
            manifest.append({"path": phone, "speaker": speaker, "set": f"{speaker}_{k + 1}_phone", "telephone": True})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def equal_error(genuine, impostor):
    """The threshold where the false-reject and false-accept rates meet, and that rate."""
    best = None
    for t in sorted(set(genuine + impostor)):
        frr = sum(g < t for g in genuine) / len(genuine)
        far = sum(i >= t for i in impostor) / len(impostor)
        if best is None or abs(frr - far) < abs(best[1] - best[2]):
            best = (t, frr, far)
    t, frr, far = best
    # Between the nearest scores on either side of the crossing.
    below = max([s for s in genuine + impostor if s < t], default=t)
    return {"threshold": round((t + below) / 2, 3), "eer": round((frr + far) / 2, 4), "frr": round(frr, 4),
            "far": round(far, 4)}


def evaluate(manifest, echome, out):
    paths = [m["path"] for m in manifest]
    got = subprocess.run([echome, "voices", "compare", *paths, "--json"], check=True, capture_output=True,
                         text=True).stdout
    sim = json.loads(got)["similarity"]
    genuine, impostor, cross_language, cross_channel = [], [], [], []
    for i in range(len(manifest)):
        for j in range(i + 1, len(manifest)):
            a, b, s = manifest[i], manifest[j], sim[i][j]
            if a["speaker"] != b["speaker"]:
                impostor.append(s)
                continue
            base_a, base_b = a["set"].removesuffix("_phone"), b["set"].removesuffix("_phone")
            if base_a == base_b and a["set"] != b["set"]:
                continue  # one recording, wideband and on the phone: not a second recording
            genuine.append(s)
            if a["telephone"] != b["telephone"]:
                cross_channel.append(s)
            elif a["speaker"] == "allison" and base_a != base_b:
                cross_language.append(s)
    result = equal_error(genuine, impostor)
    result.update({
        "speakers": len({m["speaker"] for m in manifest}),
        "recordings": len(manifest),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "genuine_min": round(min(genuine), 3),
        "genuine_mean": round(sum(genuine) / len(genuine), 3),
        "impostor_max": round(max(impostor), 3),
        "impostor_mean": round(sum(impostor) / len(impostor), 3),
        "allison_across_languages_min": round(min(cross_language), 3),
        "wideband_vs_phone_min": round(min(cross_channel), 3),
    })
    with open(os.path.join(out, "eer.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def main():
    out = sys.argv[1]
    manifest = build(out)
    if len(sys.argv) > 2:
        r = evaluate(manifest, sys.argv[2], out)
        print(f"voiceprint check on {r['recordings']} recordings of {r['speakers']} real speakers "
              f"({r['genuine_pairs']} genuine, {r['impostor_pairs']} impostor pairs):")
        print(f"  equal-error rate {r['eer'] * 100:.1f} % at threshold {r['threshold']:.3f}")
        print(f"  genuine: mean {r['genuine_mean']:.3f}, lowest {r['genuine_min']:.3f} "
              f"(Allison across languages: {r['allison_across_languages_min']:.3f}; "
              f"wideband against phone: {r['wideband_vs_phone_min']:.3f})")
        print(f"  impostor: mean {r['impostor_mean']:.3f}, highest {r['impostor_max']:.3f}")


if __name__ == "__main__":
    main()
