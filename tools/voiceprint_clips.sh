#!/usr/bin/env bash
# The clips the speaker encoder is checked on (crates/voiceprint/tests/reference.rs) and that
# tools/voiceprint_reference.py embedded with Resemblyzer itself: 16 kHz mono 16-bit WAVs, made
# from espeak-ng voices and from the real human recordings alsa-utils ships. Deterministic for
# given espeak-ng and ffmpeg builds (Debian's, as `make deps` installs them).
# usage: voiceprint_clips.sh OUTDIR
set -euo pipefail
out=$1
mkdir -p "$out"
# to16k INPUT_ARGS... OUTPUT
to16k() {
  local args=("$@") out=${!#}
  unset 'args[${#args[@]}-1]'
  ffmpeg -hide_banner -nostdin -v error -y "${args[@]}" -ac 1 -ar 16000 -c:a pcm_s16le -fflags +bitexact -flags:a +bitexact "$out"
}
say() {
  local name=$1 voice=$2 speed=$3 pitch=$4 text=$5
  espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$out/$name.raw.wav" "$text"
  to16k -i "$out/$name.raw.wav" "$out/$name.wav"
  rm -f "$out/$name.raw.wav"
}
say espeak_en_m en-us 160 50 "The quick brown fox jumps over the lazy dog, and then it runs far away into the woods."
say espeak_en_f en+f3 160 60 "Please call me back tomorrow morning about the delivery of the new chairs for the office."
say espeak_de de 150 45 "Guten Morgen, ich rufe wegen meiner Bestellung an, die noch nicht angekommen ist."
say espeak_en_low en-us 120 20 "Seven hundred and twenty three people were waiting in the hall when the doors finally opened."
alsa=/usr/share/sounds/alsa
concat() {
  local name=$1; shift
  local args=() filter="" i=0
  for f in "$@"; do args+=(-i "$alsa/$f.wav"); filter+="[$i:a]"; i=$((i + 1)); done
  to16k "${args[@]}" -filter_complex "${filter}concat=n=$i:v=0:a=1" "$out/$name.wav"
}
concat alsa_front Front_Center Front_Left Front_Right
concat alsa_rear Rear_Center Rear_Left Rear_Right Side_Left Side_Right
