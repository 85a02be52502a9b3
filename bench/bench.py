"""echome's sample-pack step against the original design, same machine, same run.

Generates long recordings with known ground truth (main speaker with pauses, music beds and
interludes, noise bursts, a second speaker, overlap, low-SNR stretches), encodes them as MP3 (a
user's recording), and reports purity, wall time and peak memory (whole process tree, sampled
from /proc) for: ffmpeg's own decode, `echome prepare`, and the baseline.

usage: python3 bench/bench.py [--minutes 60] [--long-minutes 180] [--baseline-long]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
TARGET = os.path.join(ROOT, "target", "release")


def sh(*args, **kw):
    subprocess.run(args, check=True, **kw)


def tree_rss_kb(pid):
    """Resident memory of a process and all its descendants, in KiB."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(p))
        except (OSError, IndexError, ValueError):
            pass
    total, stack = 0, [pid]
    while stack:
        q = stack.pop()
        try:
            with open(f"/proc/{q}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(children.get(q, []))
    return total


def measure(cmd, env=None):
    """Wall seconds and peak RSS (MB) of the whole process tree."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=None if env is None else {**os.environ, **env})
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.05)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {err[-2000:]}")
    return wall, peak / 1024


def purity(truth, report_path):
    segs = json.load(open(truth))["segments"]
    report = json.load(open(report_path))
    total = clean = 0.0
    for s in report["samples"]:
        for a, b in s["source_intervals"]:
            total += b - a
            clean += sum(max(0.0, min(b, y) - max(a, x)) for x, y, lab in segs if lab == "main_clean")
    return (clean / total if total else 0.0), total


def recording(minutes, seed):
    wav = os.path.join(OUT, f"mixed_{minutes}m.wav")
    mp3 = os.path.join(OUT, f"mixed_{minutes}m.mp3")
    truth = os.path.join(OUT, f"mixed_{minutes}m.truth.json")
    if not os.path.exists(mp3):
        sh(os.path.join(TARGET, "echome-testgen"), "--kind", "mixed", "--seconds", str(minutes * 60),
           "--seed", str(seed), "--out", wav, "--truth", truth)
        sh("ffmpeg", "-v", "error", "-y", "-i", wav, "-ar", "44100", "-ac", "2", "-b:a", "128k", mp3)
        phone = os.path.join(OUT, f"mixed_{minutes}m.phone.wav")
        sh("ffmpeg", "-v", "error", "-y", "-i", wav, "-af", "highpass=f=300,lowpass=f=3400", "-ar", "8000",
           "-c:a", "pcm_mulaw", phone)
        os.remove(wav)
    return mp3, truth


def row(name, wall, mem, pur=None, sel=None):
    p = "" if pur is None else f"{pur:8.3f}"
    s = "" if sel is None else f"{sel:8.1f}"
    print(f"| {name:38s} | {wall:8.1f} | {mem:8.0f} | {p:>8s} | {s:>8s} |", flush=True)


def run_set(label, audio, truth, with_baseline):
    print(f"\n{label}: {os.path.basename(audio)}")
    print(f"| {'':38s} | {'wall s':>8s} | {'peak MB':>8s} | {'purity':>8s} | {'sel. s':>8s} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    w, m = measure(["ffmpeg", "-v", "error", "-i", audio, "-f", "null", "-"])
    row("ffmpeg decode only", w, m)
    # Today's selector first (cepstra and pitch, ECHOME_VOICEPRINT_WEIGHTS=off), then the
    # embedding selector (the GE2E encoder's weights from `make tools`), same file, same run.
    out_c = os.path.join(OUT, "echome-cepstral-" + os.path.basename(audio))
    wc, mc = measure([os.path.join(TARGET, "echome"), "prepare", audio, "--out", out_c],
                     env={"ECHOME_VOICEPRINT_WEIGHTS": "off"})
    pc, sc = purity(truth, os.path.join(out_c, "report.json"))
    row("echome prepare, cepstral selector", wc, mc, pc, sc)
    out = os.path.join(OUT, "echome-" + os.path.basename(audio))
    w2, m2 = measure([os.path.join(TARGET, "echome"), "prepare", audio, "--out", out])
    p, s = purity(truth, os.path.join(out, "report.json"))
    row("echome prepare, embedding selector", w2, m2, p, s)
    print(f"embedding selector / cepstral wall: {w2 / wc:.2f}x (+{100 * (w2 / wc - 1):.0f} %)")
    if with_baseline:
        out_b = os.path.join(OUT, "baseline-" + os.path.basename(audio))
        w3, m3 = measure([sys.executable, os.path.join(ROOT, "bench", "baseline.py"), audio, out_b])
        pb, sb = purity(truth, os.path.join(out_b, "report.json"))
        row("baseline (original design)", w3, m3, pb, sb)
        print(f"echome/baseline wall: 1/{w3 / w2:.1f}; echome/ffmpeg-decode wall: {w2 / w:.2f}x")
    else:
        print(f"echome/ffmpeg-decode wall: {w2 / w:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--long-minutes", type=int, default=180)
    ap.add_argument("--baseline-long", action="store_true", help="also run the baseline on the long recording")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    sh(sys.executable, "-m", "pip", "install", "-q", "webrtcvad-wheels")
    sh("cargo", "build", "-q", "--release", "-p", "echome-cli", "-p", "echome-testkit", cwd=ROOT)
    sh("make", "-s", "tools", cwd=ROOT)
    print(f"machine: {os.cpu_count()} cores; {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    mp3, truth = recording(args.minutes, 1)
    run_set(f"{args.minutes}-minute recording", mp3, truth, True)
    run_set(f"{args.minutes}-minute phone-band copy (8 kHz mu-law)", mp3.replace(".mp3", ".phone.wav"), truth, True)
    if args.long_minutes:
        mp3l, truthl = recording(args.long_minutes, 2)
        run_set(f"{args.long_minutes}-minute recording", mp3l, truthl, args.baseline_long)
    real = os.path.join(OUT, "real")
    sh(sys.executable, os.path.join(ROOT, "bench", "real_voices.py"), real)
    for name in ("real_a", "real_b", "real_a.phone", "real_b.phone"):
        stem = name.split(".")[0]
        run_set(f"real voices ({name}: two real speakers, turns and overlaps, music, noise)",
                os.path.join(real, name + ".wav"), os.path.join(real, stem + ".truth.json"), False)
    # The voiceprint check (speaker_mismatch): its equal-error rate on real speakers, and the
    # threshold there (crates/core DEFAULT_MATCH_THRESHOLD starts from it).
    print()
    sh(sys.executable, os.path.join(ROOT, "bench", "speaker_check.py"), os.path.join(OUT, "speakers"),
       os.path.join(TARGET, "echome"))
    # The clone quality score on the same real speakers: a perfect clone's stand-in (their own
    # held-out speech) against another person's speech and the offline engine.
    print()
    sh("cargo", "run", "-q", "--release", "-p", "score-voice", "--example", "quality_bench", "--",
       os.path.join(OUT, "speakers"), cwd=ROOT)


if __name__ == "__main__":
    main()
