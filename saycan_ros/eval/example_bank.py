"""Import the SayCan reference plans into the example bank, converted to our skills.

    python -m saycan_ros.eval.example_bank [TSV] [--out config/examples/saycan_v0.yaml]

Every convertible row of ``saycan_plan_v0_l.tsv`` (SayCan dataset v0, Ahn et al. 2022, CC BY 4.0)
(except those whose instruction is also in one of our episode sets, config/eval/*.yaml)
becomes ``{instruction, steps, source}`` with the plan mapped onto our skill library by the same
converter as the reference-plan checks. The written file carries the attribution. Measuring with
`saycan eval --reference-tsv` excludes each row's own example (leave-one-out).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from saycan_ros.core.errors import SayCanError
from saycan_ros.core.kitchen import config_dir, load_kitchen
from saycan_ros.core.prompt import instruction_key
from saycan_ros.eval.episodes import evaluation_instructions
from saycan_ros.eval.reference_plans import CREDIT, load_reference_checks

HEADER = f"""# Example bank rows converted from the SayCan reference plans to this project's skills.
# Source: {CREDIT}.
# Licence: CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); converted (object and place
# names mapped to our kitchen, 'done' appended) by `python -m saycan_ros.eval.example_bank`.
"""


def bank_rows(tsv: str | Path | None = None) -> list[dict]:
    """Convertible rows, minus any whose instruction is also one of our evaluation episodes."""
    checks = load_reference_checks(tsv, load_kitchen())
    held_back = evaluation_instructions()
    return [{"instruction": e.instruction, "steps": list(e.meta["reference_plan"]), "source": f"saycan_v0 row {e.line}"}
            for e in checks.episodes if instruction_key(e.instruction) not in held_back]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saycan_ros.eval.example_bank", description=__doc__.split("\n\n")[0])
    parser.add_argument("tsv", nargs="?", default=None, help="saycan_plan_v0_l.tsv (default: ../shared/datasets/)")
    parser.add_argument("--out", default=str(config_dir() / "examples" / "saycan_v0.yaml"))
    args = parser.parse_args(argv)
    try:
        rows = bank_rows(args.tsv)
    except SayCanError as exc:
        print(f"example_bank: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HEADER + "examples:\n" + "".join(
        f"  - instruction: {json.dumps(r['instruction'])}\n    steps: [{', '.join(r['steps'])}]\n"
        f"    source: {r['source']}\n" for r in rows))
    print(f"wrote {len(rows)} examples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
