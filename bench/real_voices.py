"""Mixtures of real human voices, for the speaker-selection benchmark and tests.

Debian ships two real speakers: alsa-utils' channel announcements (one man, eight clips of
about 1.4 s; sound-theme-freedesktop's audio-channel-*.oga are the same recordings) and
speech-dispatcher's dummy-message.wav (another man, 29 s). Each mixture takes one as the main
speaker, in turns slightly varied in tempo and pitch (±4 %, so no two turns are identical),
and puts the other in as a second party taking turns and talking over the main one, with a
music interlude, a noise burst and a low room noise throughout. The ground truth is written
as echome-testgen writes it (`segments: [start, end, label]`).

usage: python3 bench/real_voices.py OUT_DIR   (writes real_{a,b}.wav, .truth.json, .phone.wav)
"""
import array
import json
import math
import os
import random
import subprocess
import sys

RATE = 16000
ALSA = "/usr/share/sounds/alsa"
ALSA_CLIPS = ["Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left", "Rear_Right",
              "Side_Left", "Side_Right"]
DISPATCHER = "/usr/share/sounds/speech-dispatcher/dummy-message.wav"


def decode(path, tempo=1.0, pitch=1.0):
    """The file as 16 kHz mono floats, its tempo and pitch scaled."""
    af = f"aresample={RATE},asetrate={RATE * pitch:.0f},aresample={RATE},atempo={tempo / pitch:.4f}"
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-af", af, "-ac", "1", "-ar", str(RATE),
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    pcm = array.array("h")
    pcm.frombytes(raw)
    return [s / 32768.0 for s in pcm]


def trim(x, floor=0.003):
    """Without the silence before and after the words."""
    idx = [i for i, v in enumerate(x) if abs(v) > floor]
    return x[idx[0]:idx[-1] + 1] if idx else x


def pieces(x, seconds, rng):
    """`x` cut at its quietest points into pieces of about `seconds`."""
    out, at = [], 0
    step = int(seconds * RATE)
    while at < len(x):
        end = min(len(x), at + step)
        if end < len(x):
            window = range(end - RATE // 2, min(len(x), end + RATE // 2), 80)
            end = min(window, key=lambda i: sum(abs(v) for v in x[i:i + 400]))
        out.append(x[at:end])
        at = end
    return [p for p in out if len(p) > RATE // 2]


def music(seconds, rng):
    """Chords of a few sines with a soft attack: tonal and steady, no syllables."""
    n, out = int(seconds * RATE), []
    chord = [220.0, 277.2, 329.6]
    for i in range(n):
        if i % (RATE * 2) == 0:
            root = rng.choice([196.0, 220.0, 246.9, 261.6])
            chord = [root, root * 1.26, root * 1.5]
        t = i / RATE
        env = min(1.0, (i % (RATE * 2)) / 800)
        out.append(0.08 * env * sum(math.sin(2 * math.pi * f * t) for f in chord))
    return out


def noise(seconds, level, rng):
    return [rng.gauss(0.0, level) for _ in range(int(seconds * RATE))]


def build(main_turns, other_turns, seed):
    rng = random.Random(seed)
    timeline, segs = [], []

    def put(samples, label):
        start = len(timeline) / RATE
        timeline.extend(samples)
        segs.append([round(start, 3), round(len(timeline) / RATE, 3), label])

    def pause():
        put([0.0] * int(rng.uniform(0.5, 1.0) * RATE), "silence")

    others = list(other_turns)
    for k, turn in enumerate(main_turns):
        put(turn, "main_clean")
        pause()
        if others and k % 3 == 1:
            put(others.pop(0), "second_speaker")
            pause()
        if others and k % 7 == 5:
            # The other party talks over the main speaker.
            a, b = turn, others.pop(0)
            n = max(len(a), len(b))
            put([(a[i] if i < len(a) else 0.0) + 0.7 * (b[i] if i < len(b) else 0.0) for i in range(n)], "overlap")
            pause()
        if k == len(main_turns) // 2:
            put(music(10.0, rng), "music")
            pause()
            put(noise(3.0, 0.05, rng), "noise")
            pause()
    # As echome-testgen labels it: the main speaker owns 0.3 s of the room tone at each edge.
    for i, (s, e, lab) in enumerate(segs):
        if lab != "main_clean":
            continue
        if i > 0 and segs[i - 1][2] == "silence":
            grab = min(0.3, segs[i - 1][1] - segs[i - 1][0])
            segs[i - 1][1] = round(segs[i - 1][1] - grab, 3)
            segs[i][0] = round(s - grab, 3)
        if i + 1 < len(segs) and segs[i + 1][2] == "silence":
            grab = min(0.3, segs[i + 1][1] - segs[i + 1][0])
            segs[i + 1][0] = round(segs[i + 1][0] + grab, 3)
            segs[i][1] = round(e + grab, 3)
    room = noise(len(timeline) / RATE, 0.0015, rng)
    return [max(-1.0, min(1.0, s + r)) for s, r in zip(timeline, room)], segs


def write(path, samples, segs):
    pcm = array.array("h", (int(max(-32768, min(32767, round(s * 32767)))) for s in samples))
    raw = pcm.tobytes()
    with open(path, "wb") as f:
        f.write(b"RIFF" + (36 + len(raw)).to_bytes(4, "little") + b"WAVEfmt ")
        f.write((16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little"))
        f.write(RATE.to_bytes(4, "little") + (RATE * 2).to_bytes(4, "little") + (2).to_bytes(2, "little"))
        f.write((16).to_bytes(2, "little") + b"data" + len(raw).to_bytes(4, "little") + raw)
    with open(path.replace(".wav", ".truth.json"), "w") as f:
        json.dump({"segments": segs, "source": "bench/real_voices.py"}, f)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", path, "-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000",
                    "-c:a", "pcm_mulaw", path.replace(".wav", ".phone.wav")], check=True)


def variants(paths, n, rng, seconds=None):
    turns = []
    for v in range(n):
        for p in paths:
            x = trim(decode(p, tempo=rng.uniform(0.96, 1.04), pitch=rng.uniform(0.96, 1.04)))
            turns.extend(pieces(x, seconds, rng) if seconds else [x])
    rng.shuffle(turns)
    return turns


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    alsa = [f"{ALSA}/{c}.wav" for c in ALSA_CLIPS]
    # a: the speech-dispatcher voice is the main speaker, the alsa voice the other party.
    main_a = variants([DISPATCHER], 4, rng, seconds=4.0)
    other_a = variants(alsa, 2, rng)
    samples, segs = build(main_a, [other_a[i] + other_a[i + 1] for i in range(0, len(other_a) - 1, 2)], 1)
    write(os.path.join(out, "real_a.wav"), samples, segs)
    # b: the alsa voice is the main speaker, speech-dispatcher's the other party.
    main_b = [a + [0.0] * 2400 + b for a, b in zip(*[iter(variants(alsa, 6, rng))] * 2)]
    other_b = variants([DISPATCHER], 1, rng, seconds=2.5)
    samples, segs = build(main_b, other_b, 2)
    write(os.path.join(out, "real_b.wav"), samples, segs)
    for name in ("real_a", "real_b"):
        segs = json.load(open(os.path.join(out, name + ".truth.json")))["segments"]
        total = {}
        for s, e, lab in segs:
            total[lab] = total.get(lab, 0.0) + e - s
        print(name, {k: round(v, 1) for k, v in sorted(total.items())})


if __name__ == "__main__":
    main()
