"""llm_scoring_node: task grounding as a service.

ScoreSkills(instruction, steps so far, skills) -> the language model's log-likelihood of each
skill text as the next step after the few-shot prompt. The model loads once at start; inference
runs in its own callback group so the node stays responsive while a call is being scored.
With the openai backend a server that is down or answers later than `timeout_s` (after `retries`)
gives an error response whose error_msg starts with ros_io.codes.BACKEND_UNAVAILABLE and names the
server; the node lives on and serves again when the server is back.
"""
from __future__ import annotations

import sys
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from saycan_msgs.srv import ScoreSkills
from saycan_ros.core.errors import SayCanError
from saycan_ros.core.prompt import DEFAULT_RETRIEVED_EXAMPLES
from saycan_ros.language.base import BACKENDS, DEVICES, DTYPES, MODES, ScorerConfig, effective_adapter
from saycan_ros.language.factory import make_scorer
from saycan_ros.language.retrieval import make_prompt
from saycan_ros.nodes.common import (Param, declare_params, destroyed_if_init_fails, non_negative, one_of, positive,
                                     run_node)
from saycan_ros.ros_io.codes import BACKEND_UNAVAILABLE

_DEFAULTS = ScorerConfig()
PARAMS = (
    Param("backend", _DEFAULTS.backend, "transformers (in-process causal LM) or openai (OpenAI-compatible completions server, e.g. vLLM)", one_of(*BACKENDS)),
    Param("model", _DEFAULTS.model, "empty: the embedded SmolLM2-135M; else a local Hugging Face folder, a .gguf file, or (openai) the served model name"),
    Param("device", _DEFAULTS.device, "cpu, cuda or auto", one_of(*DEVICES)),
    Param("dtype", _DEFAULTS.dtype, "float32, bfloat16 or float16", one_of(*DTYPES)),
    Param("mode", _DEFAULTS.mode, "packed (one pass over all skills on a prompt cache), kv (batched on a prompt cache) or naive", one_of(*MODES)),
    Param("memory_budget_mb", _DEFAULTS.memory_budget_mb, "bound on the extra memory of one scoring pass (chunks the skills)", positive),
    Param("max_chunk_tokens", _DEFAULTS.max_chunk_tokens, "packed mode: skill tokens per forward pass at most", positive),
    Param("batch_size", _DEFAULTS.batch_size, "kv mode: skills per forward; openai: prompts per request", positive),
    Param("server_url", _DEFAULTS.server_url, "openai backend: base URL including /v1"),
    Param("api_key", _DEFAULTS.api_key, "openai backend: bearer token, if the server needs one"),
    Param("timeout_s", _DEFAULTS.timeout_s, "openai backend: time limit per request", positive),
    Param("retries", _DEFAULTS.retries, "openai backend: retries after a failed request", non_negative),
    Param("backoff_s", _DEFAULTS.backoff_s, "openai backend: first retry backoff, doubling each retry", non_negative),
    Param("concurrency", _DEFAULTS.concurrency, "openai backend: requests in flight at once", positive),
    Param("threads", _DEFAULTS.threads, "torch CPU threads (0: torch's default)", non_negative),
    Param("prefix_cache", _DEFAULTS.prefix_cache, "reuse the previous call's prompt cache when the prompt only grew by the last step"),
    Param("adapter", _DEFAULTS.adapter, "LoRA adapter merged into the model at load: auto (the holding adapter "
          "with the embedded model, none with any other), none, packaged (models/planner-lora), feedback "
          "(models/planner-lora-feedback: planner-lora continued on outcome feedback, docs/closed_loop.md), holding "
          "(models/planner-lora-holding: feedback continued on hands-full starts, reads ScoreSkills.holding), "
          "or a folder from `saycan train planner`"),
    Param("cache_dir", _DEFAULTS.cache_dir, "where the embedded model is converted to ('' : $SAYCAN_CACHE or ~/.cache/saycan_ros/models)"),
    Param("prompt_file", "", "few-shot prompt (YAML); empty: the adapter's own prompt.yaml with an adapter, "
          "else the package's config/prompts.yaml"),
    Param("retrieved_examples", DEFAULT_RETRIEVED_EXAMPLES, "few-shot examples retrieved per instruction from the "
          "example bank, nearest last (0: the prompt file's fixed examples)", non_negative),
    Param("example_bank", "", "example bank files, comma-separated (empty: the package's config/examples/*.yaml)"),
)
SCORER_KEYS = ("backend", "model", "device", "dtype", "mode", "memory_budget_mb", "max_chunk_tokens", "batch_size",
               "server_url", "api_key", "timeout_s", "retries", "backoff_s", "concurrency", "threads",
               "prefix_cache", "cache_dir", "adapter")


class LlmScoringNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **node_kwargs) -> None:
        super().__init__("llm_scoring_node", **node_kwargs)
        self.p = declare_params(self, PARAMS)
        config = ScorerConfig.from_mapping({k: self.p[k] for k in SCORER_KEYS})
        adapter = effective_adapter(config)  # the prompt must be the one the adapter was trained with
        bank = [f.strip() for f in self.p["example_bank"].split(",") if f.strip()]
        self.prompt = make_prompt(self.p["prompt_file"], adapter, self.p["retrieved_examples"], bank)
        started = time.perf_counter()
        self.scorer = make_scorer(config)  # raises a SayCanError (one clear line) if the model is missing
        self.get_logger().info(f"{config.backend} scorer ready ({config.model or 'embedded SmolLM2-135M'}"
                               f"{'' if adapter == 'none' else ', adapter ' + adapter}, "
                               f"{config.mode}, {config.device}) in {time.perf_counter() - started:.1f} s")
        self.diagnostics = self.create_publisher(DiagnosticArray, "diagnostics", 10)
        self.create_service(ScoreSkills, "score_skills", self._score, callback_group=MutuallyExclusiveCallbackGroup())
        self.calls = 0

    def _score(self, request: ScoreSkills.Request, response: ScoreSkills.Response) -> ScoreSkills.Response:
        started = time.perf_counter()
        try:
            prompt = self.prompt.build(request.instruction, list(request.steps_so_far), request.holding or None)
            scores = self.scorer.score(prompt, list(request.skills))
        except SayCanError as exc:  # a bad request, or (openai) the server is down or too slow
            unavailable = getattr(exc, "unreachable", False)
            response.success, response.error_msg = False, (BACKEND_UNAVAILABLE if unavailable else "") + str(exc)
            self.get_logger().warning(f"scoring refused: {response.error_msg}")
            return response
        except Exception as exc:  # a model/runtime failure must not take the node down
            response.success, response.error_msg = False, f"scoring failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(response.error_msg)
            return response
        response.success = True
        response.log_likelihoods = [s.sum_logprob for s in scores]
        response.mean_log_likelihoods = [s.mean_logprob for s in scores]
        response.token_counts = [s.n_tokens for s in scores]
        self.calls += 1
        self._publish_diagnostics(time.perf_counter() - started, len(scores))
        return response

    def _publish_diagnostics(self, elapsed_s: float, n_skills: int) -> None:
        stats = getattr(self.scorer, "last_stats", None)
        values = {"service_ms": f"{elapsed_s * 1000:.1f}", "skills": str(n_skills), "calls": str(self.calls)}
        if stats is not None:
            values.update(mode=stats.mode, prompt_tokens=str(stats.prompt_tokens), scorer_ms=f"{stats.elapsed_s * 1000:.1f}",
                          prompt_tokens_encoded=str(stats.prompt_tokens_encoded),
                          skill_tokens=str(stats.skill_tokens), forward_passes=str(stats.forward_passes))
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name="saycan/llm_scoring", hardware_id=self.p["model"] or "embedded",
                                  message=f"scored {n_skills} skills in {elapsed_s * 1000:.0f} ms",
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(array)

    def close(self) -> None:
        self.scorer.close()


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(LlmScoringNode, args, single_threaded=True))  # one service, one request at a time


if __name__ == "__main__":
    main()
