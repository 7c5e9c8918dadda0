"""voice_command_node: speech -> instruction text on `saycan/command` (std_msgs/String).

Sources (`source`): `topic` (default) listens on `audio` (std_msgs/UInt8MultiArray: raw
little-endian 16-bit PCM, `channels` interleaved at `sample_rate`, as audio_common's AudioData
carries it; chunks of any size, cut into utterances by energy, or ended when no audio arrives for
`flush_after_s`); `wav` transcribes `wav_file` once, as soon as something subscribes to
saycan/command; `microphone` records from `device` (PyPI sounddevice, needs PortAudio). The
recogniser (`recognizer`, speech/recognizers.py) runs on a worker thread, never in a callback.
"""
from __future__ import annotations

import queue
import threading
import time

import numpy as np
from rclpy.node import Node
from std_msgs.msg import String, UInt8MultiArray

from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.nodes.common import Param, declare_params, destroyed_if_init_fails, one_of, positive, run_node
from saycan_ros.speech.audio import AudioError, check_rate, pcm_to_float, read_wav
from saycan_ros.speech.recognizers import BACKENDS, LANGUAGES, make_recognizer, recognize
from saycan_ros.speech.segmenter import Segmenter

PARAMS = (
    Param("source", "topic", "audio source: topic (std_msgs/UInt8MultiArray PCM16 on 'audio'), wav (wav_file), "
          "microphone (device)", one_of("topic", "wav", "microphone")),
    Param("wav_file", "", "source wav: the WAV file to transcribe once"),
    Param("device", "", "source microphone: sounddevice input device name or index ('' = the default one)"),
    Param("recognizer", "pocketsphinx", "speech recogniser backend", one_of(*BACKENDS)),
    Param("language", "kitchen", "pocketsphinx: kitchen (a language model of the kitchen's instructions) or "
          "general (the wheel's English model)", one_of(*LANGUAGES)),
    Param("model_path", "", "faster_whisper: local CTranslate2 model folder (nothing is downloaded)"),
    Param("sample_rate", 16000, "topic and microphone: samples per second",
          lambda v: None if 8000 <= v <= 192000 else "must be within [8000, 192000]"),
    Param("channels", 1, "topic: interleaved channels in each message", positive),
    Param("threshold_dbfs", -40.0, "topic and microphone: frames louder than this are speech",
          lambda v: None if -90.0 <= v < 0.0 else "must be within [-90, 0)"),
    Param("end_silence_s", 0.8, "topic and microphone: this much quiet ends an utterance", positive),
    Param("flush_after_s", 1.0, "topic: no audio for this long ends the utterance in progress", positive),
    Param("wait_for_subscriber_s", 30.0, "wav: wait this long for a subscriber of saycan/command before "
          "publishing anyway", positive),
)


class VoiceCommandNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **kwargs) -> None:
        super().__init__("voice_command_node", **kwargs)
        self.p = declare_params(self, PARAMS)
        self.recognizer = make_recognizer(self.p["recognizer"], language=self.p["language"],
                                          model_path=self.p["model_path"])
        self.heard: list[str] = []  # what was published, for tests and logs
        self._pub = self.create_publisher(String, "saycan/command", 10)
        self._utterances: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the segmenter is fed from callbacks and the mic's thread
        self._stream = None
        self._segmenter = Segmenter(self.p["sample_rate"], self.p["threshold_dbfs"], self.p["end_silence_s"])
        self._last_audio = 0.0
        source = self.p["source"]
        if source == "wav":
            if not self.p["wav_file"]:
                raise ConfigError("voice_command_node: parameter 'wav_file' is required for source 'wav'")
            try:
                samples, rate = read_wav(self.p["wav_file"])
            except AudioError as exc:
                raise ConfigError(f"voice_command_node: {exc}") from None
            threading.Thread(target=self._publish_file, args=(samples, rate), daemon=True).start()
            what = f"transcribing {self.p['wav_file']}"
        elif source == "topic":
            self.create_subscription(UInt8MultiArray, "audio", self._on_audio, 50)
            self.create_timer(0.1, self._flush_if_quiet)
            what = f"listening on '{self._resolved('audio')}' (16-bit PCM, {self.p['sample_rate']} Hz)"
        else:
            self._stream = self._open_microphone()
            what = f"listening to the microphone {self.p['device'] or '(default)'}"
        self._worker = threading.Thread(target=self._recognize_loop, daemon=True)
        self._worker.start()
        self.get_logger().info(f"voice_command_node: {what}; recogniser {self.p['recognizer']} "
                               f"({self.p['language']}); instructions go to 'saycan/command'")

    def _resolved(self, topic: str) -> str:
        return self.resolve_topic_name(topic)

    # ------------------------------------------------------------------ sources
    def _publish_file(self, samples: np.ndarray, rate: int) -> None:
        deadline = time.monotonic() + self.p["wait_for_subscriber_s"]
        while self._pub.get_subscription_count() == 0 and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.05)
        self._utterances.put((samples, rate, self.p["wav_file"]))

    def _on_audio(self, msg: UInt8MultiArray) -> None:
        try:
            chunk = pcm_to_float(bytes(msg.data), self.p["sample_rate"], 2, self.p["channels"], "audio message")
        except AudioError as exc:  # a bad message is logged and dropped, never fatal
            self.get_logger().warning(str(exc), throttle_duration_sec=5.0)
            return
        self._feed(chunk)

    def _feed(self, chunk: np.ndarray) -> None:
        with self._lock:
            self._last_audio = time.monotonic()
            for utterance in self._segmenter.feed(chunk):
                self._utterances.put((utterance, self.p["sample_rate"], "audio"))

    def _flush_if_quiet(self) -> None:
        with self._lock:
            if self._segmenter.speaking and time.monotonic() - self._last_audio > self.p["flush_after_s"]:
                utterance = self._segmenter.flush()
                if utterance is not None:
                    self._utterances.put((utterance, self.p["sample_rate"], "audio"))

    def _open_microphone(self):
        try:
            import sounddevice
        except OSError as exc:  # the package imports, PortAudio (a system library) may be missing
            raise ConfigError(f"voice_command_node: the microphone needs PortAudio ({exc}); "
                              f"Debian: apt-get install libportaudio2") from None
        device = self.p["device"]
        device = int(device) if device.isdigit() else (device or None)
        try:
            stream = sounddevice.InputStream(samplerate=self.p["sample_rate"], channels=1, dtype="float32",
                                             device=device, callback=lambda data, *_: self._feed(data[:, 0].copy()))
            stream.start()
        except Exception as exc:  # PortAudioError, ValueError for an unknown device
            raise ConfigError(f"voice_command_node: cannot open microphone {device or '(default)'}: {exc}") from None
        return stream

    # ------------------------------------------------------------------ recognition
    def _recognize_loop(self) -> None:
        while not self._stop.is_set():
            try:
                samples, rate, what = self._utterances.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                check_rate(rate, what)
                transcript = recognize(self.recognizer, samples, rate, what)
            except SayCanError as exc:
                self.get_logger().warning(f"not recognised: {exc}")
                continue
            except Exception as exc:  # a recogniser failure must not end the node
                self.get_logger().error(f"recogniser failed on {what}: {exc!r}")
                continue
            if not transcript.text:
                self.get_logger().info(f"heard nothing I know in {what}")
                continue
            self.heard.append(transcript.text)
            self._pub.publish(String(data=transcript.text))
            self.get_logger().info(f"heard '{transcript.text}' ({transcript.seconds:.1f} s): sent to saycan/command")

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        self._worker.join(timeout=10)

    close = stop


def main(args=None) -> int:
    return run_node(VoiceCommandNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
