"""Speech (pure, no ROS): WAV reading and resampling, bad audio, the kitchen's language files, the
segmenter, word error rate, and pocketsphinx on spoken fixtures (test/fixtures/voice, made by
scripts/make_voice_fixtures.py with espeak-ng)."""
from __future__ import annotations

import math
import re
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.text_metrics import word_edits, word_error_rate
from saycan_ros.speech.audio import AudioError, check_utterance, pcm_to_float, read_wav, resample, write_wav
from saycan_ros.speech.segmenter import Segmenter
from saycan_ros.speech.vocabulary import arpa_trigram, words_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "voice"
SPOKEN = {"throw_away_the_apple.wav": "throw away the apple", "bring_me_a_soda.wav": "bring me a soda"}


@pytest.fixture(scope="module")
def recognizer():
    from saycan_ros.speech.recognizers import make_recognizer

    return make_recognizer("pocketsphinx", language="kitchen")  # the shared cache: built once per machine


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * math.pi * hz * t)).astype(np.float32)


# -- audio -------------------------------------------------------------------------------------
def test_wav_round_trip_and_stereo_mixdown(tmp_path):
    x = tone(0.5, 22050)
    write_wav(tmp_path / "a.wav", x, 22050)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 22050 and len(y) == len(x)
    assert np.max(np.abs(y - x)) < 1e-4
    stereo = np.stack([(x * 32767).astype("<i2"), np.zeros_like(x, "<i2")], axis=1).tobytes()
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(22050), w.writeframes(stereo)
    mono, _ = read_wav(tmp_path / "s.wav")
    assert np.max(np.abs(mono - x / 2)) < 1e-4  # the mean of the two channels


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_widths_scale_to_unit_range(width):
    full = {1: bytes([255]), 2: (32767).to_bytes(2, "little", signed=True),
            3: (2 ** 23 - 1).to_bytes(3, "little", signed=True), 4: (2 ** 31 - 1).to_bytes(4, "little", signed=True)}
    assert pcm_to_float(full[width] * 4, 16000, width=width)[0] == pytest.approx(1.0, abs=0.01)


def test_resample_keeps_the_pitch_and_length():
    x = tone(1.0, 44100, hz=500.0)
    y = resample(x, 44100, 16000)
    assert len(y) == 16000
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) * 16000 / len(y) == pytest.approx(500.0, abs=2.0)
    assert resample(x, 16000, 16000) is not None and len(resample(tone(1.0, 8000), 8000, 16000)) == 16000


def test_bad_audio_gives_clear_errors(tmp_path):
    with pytest.raises(AudioError, match="no such WAV file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioError, match="not a PCM WAV file"):
        read_wav(tmp_path / "text.wav")
    with pytest.raises(AudioError, match="sample rate 1000 Hz"):
        pcm_to_float(b"\0\0" * 100, 1000)
    with pytest.raises(AudioError, match="sample rate"):
        resample(np.zeros(10, np.float32), 16000, 500_000)
    with pytest.raises(AudioError, match="empty audio"):
        check_utterance(np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="silence"):
        check_utterance(np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match="too long"):
        check_utterance(tone(61.0, 8000), 8000)
    with pytest.raises(AudioError, match="not finite"):
        check_utterance(np.full(16000, np.nan, np.float32), 16000)
    with pytest.raises(AudioError, match="not supported"):
        pcm_to_float(b"\0" * 40, 16000, width=5)


# -- word error rate and the kitchen's language ------------------------------------------------
def test_word_error_rate_counts_edits():
    assert word_edits("throw away the apple".split(), "throw the apples".split()) == 2
    assert word_edits([], "a b".split()) == 2 and word_edits("a b".split(), []) == 2
    assert word_error_rate([("a b c d".split(), "a x c d".split()), ("e f".split(), "e f".split())]) == pytest.approx(1 / 6)
    assert math.isnan(word_error_rate([]))


def test_words_of_normalises_punctuation_and_hyphens():
    assert words_of("Robot, bring me the lemon-lime soda!") == ["robot", "bring", "me", "the", "lemon", "lime", "soda"]


def test_arpa_model_is_normalised():
    """Each history's probabilities, with backoff to the lower orders, sum to one."""
    arpa = arpa_trigram([["bring", "me", "the", "apple"], ["bring", "the", "apple"], ["toss", "the", "can"]])
    grams: list[dict] = [{}, {}, {}]
    bows: list[dict] = [{}, {}, {}]
    order = 0
    for line in arpa.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            order = int(line[1]) - 1
        elif "\t" in line:
            parts = line.split("\t")
            gram = tuple(parts[1].split())
            grams[order][gram] = 10 ** float(parts[0])
            if len(parts) == 3:
                bows[order][gram] = 10 ** float(parts[2])
    vocab = [g[0] for g in grams[0] if g[0] != "<s>"]

    def p(gram):
        k = len(gram) - 1
        if gram in grams[k]:
            return grams[k][gram]
        return bows[k - 1].get(gram[:-1], 1.0) * p(gram[1:])

    assert sum(p((w,)) for w in vocab) == pytest.approx(1.0, abs=1e-3)
    for history in [("<s>",), ("the",), ("bring", "me"), ("<s>", "bring")]:
        assert sum(p(history + (w,)) for w in vocab) == pytest.approx(1.0, abs=1e-3), history


def test_spoken_form_round_trips_kitchen_names(recognizer):
    spoken = recognizer.spoken
    assert spoken.words("bring me a 7up") == ["bring", "me", "a", "seven", "up"]
    assert spoken.words("the redbull") == ["the", "red", "bull"]
    assert spoken.to_written(["bring", "me", "a", "seven", "up"]) == "bring me a 7up"
    assert {"apple", "trash", "counter", "bring", "throw"} <= recognizer.kitchen.vocabulary


def test_spoken_phrases_are_in_the_kitchen_vocabulary(recognizer):
    """Every dictionary word of config/voice/spoken_phrases.yaml reaches the language model, with
    the words people say that the planner's shapes never generate."""
    from saycan_ros.speech.vocabulary import load_voice_phrases

    phrases = load_voice_phrases()
    texts = [t for shapes in phrases["shapes"].values() for t in shapes]
    texts += phrases["groups"] + phrases["contents"] + phrases["references"] + phrases["sentences"]
    texts += [t for alternatives in phrases["synonyms"].values() for t in alternatives]
    words = {w for t in texts for w in recognizer.spoken.words(re.sub(r"\{\w+\}", " ", t))
             if w in recognizer.pronunciations}
    assert words - recognizer.kitchen.vocabulary == set()
    assert {"recycle", "compost", "crisps", "items", "everything", "both", "instead", "while", "what", "need",
            "would", "like"} <= recognizer.kitchen.vocabulary


def test_evaluation_instructions_stay_out_of_the_spoken_corpus(tmp_path):
    """An evaluation instruction written into the spoken phrases is still left out of the corpus."""
    from saycan_ros.core.kitchen import config_dir, load_kitchen
    from saycan_ros.core.prompt import instruction_key
    from saycan_ros.eval.episodes import evaluation_instructions, load_episodes
    from saycan_ros.speech.vocabulary import load_voice_phrases, spoken_sentences, voice_phrases_file

    held = load_episodes(config_dir() / "eval" / "dev.yaml", load_kitchen())[0].instruction
    phrases = load_voice_phrases()
    phrases["sentences"] = [held, "thank you"]
    phrases["references"] = ["something to drink"]
    path = tmp_path / "phrases.yaml"
    path.write_text(yaml.safe_dump(phrases), encoding="utf-8")
    sentences = spoken_sentences(400, phrases_file=path)
    keys = {instruction_key(t) for t in sentences}
    assert "thank you" in keys and instruction_key(held) not in keys
    assert not keys & evaluation_instructions()
    assert voice_phrases_file().is_file()


def test_the_spoken_phrases_are_part_of_the_cache_key(tmp_path, monkeypatch):
    from saycan_ros.core.errors import ConfigError
    from saycan_ros.speech import vocabulary

    before = vocabulary.language_inputs_hash()
    changed = tmp_path / "phrases.yaml"
    changed.write_text(vocabulary.voice_phrases_file().read_text(encoding="utf-8") + "\n# another line\n")
    monkeypatch.setattr(vocabulary, "voice_phrases_file", lambda: changed)
    assert vocabulary.language_inputs_hash() != before
    (tmp_path / "bad.yaml").write_text("shapes: {deliver: [\"i need {obj}\"]}\n")
    with pytest.raises(ConfigError, match="missing groups"):
        vocabulary.load_voice_phrases(tmp_path / "bad.yaml")


def test_noise_floor_is_the_quiet_frames_level():
    from saycan_ros.speech.recognizers import noise_floor

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.01, 16000), tone(1.0, 16000), rng.normal(0, 0.01, 8000)]).astype(np.float32)
    assert noise_floor(x) == pytest.approx(0.01, rel=0.2)
    assert noise_floor(np.zeros(16000, np.float32)) == 0.0 and noise_floor(np.ones(10, np.float32)) == 0.0


# -- recognition -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SPOKEN))
def test_pocketsphinx_hears_the_fixture(recognizer, name):
    from saycan_ros.speech.recognizers import recognize

    samples, rate = read_wav(FIXTURES / name)
    assert rate == 16000 and len(samples) / rate < 3.0
    text = recognize(recognizer, samples, rate).text
    reference = SPOKEN[name].split()
    assert word_edits(reference, text.split()) / len(reference) <= 0.25, text


def test_recognition_at_another_rate_and_with_noise(recognizer):
    from saycan_ros.speech.recognizers import recognize

    samples, rate = read_wav(FIXTURES / "throw_away_the_apple.wav")
    noisy = samples + np.random.default_rng(0).normal(0, 0.01, len(samples)).astype(np.float32)
    assert recognize(recognizer, resample(noisy, 16000, 44100), 44100).text == "throw away the apple"


def test_factory_errors_are_clear(tmp_path):
    from saycan_ros.speech.recognizers import make_recognizer

    with pytest.raises(ConfigError, match="not one of pocketsphinx, faster_whisper"):
        make_recognizer("vosk")
    with pytest.raises(ConfigError, match="local CTranslate2 Whisper model folder"):
        make_recognizer("faster_whisper", model_path=str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="not one of kitchen, general"):
        make_recognizer("pocketsphinx", language="klingon", cache_dir=tmp_path)


# -- segmenter ---------------------------------------------------------------------------------
def test_segmenter_cuts_utterances_at_silence():
    rate = 16000
    quiet = np.zeros(rate, np.float32)
    stream = np.concatenate([quiet, tone(0.6, rate), quiet, tone(0.4, rate), tone(0.3, rate, amplitude=0.0)])
    seg = Segmenter(rate, threshold_dbfs=-40, end_silence_s=0.5, pre_roll_s=0.1)
    out = []
    for i in range(0, len(stream), 1000):  # chunks of any size
        out += seg.feed(stream[i:i + 1000])
    assert len(out) == 1 and 0.6 <= len(out[0]) / rate <= 0.6 + 0.1 + 0.5 + 0.06
    assert seg.speaking
    last = seg.flush()
    assert last is not None and 0.4 <= len(last) / rate <= 0.4 + 0.1 + 0.3 + 0.06
    assert seg.flush() is None and not seg.speaking
