#!/usr/bin/env python3
"""Regenerate the spoken-instruction WAV fixtures of the voice tests (16 kHz mono 16-bit) with
espeak-ng, so that the tests themselves do not need espeak-ng. Run from the repository root:
    . ./env.sh && python scripts/make_voice_fixtures.py
"""
from pathlib import Path

from saycan_ros.speech.audio import write_wav
from saycan_ros.speech.synth import synthesize

FIXTURES = {  # file -> (text, voice, words per minute)
    "throw_away_the_apple.wav": ("throw away the apple", "en-us", 150),
    "bring_me_a_soda.wav": ("bring me a soda", "en-gb+f3", 150),
}

if __name__ == "__main__":
    folder = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "voice"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, voice, wpm) in FIXTURES.items():
        write_wav(folder / name, synthesize(text, voice, wpm, 16000), 16000)
        print(f"{folder / name}: {text!r} ({voice}, {wpm} wpm)")
