"""The results directory: one folder per algorithm label and env, three files per seed.

``<results>/<label>/<env slug>/``, the env slug being the id with ``/`` and ``:`` replaced by ``-``:

- ``seed_<s>.jsonl``: one JSON record per evaluation (``algo``, ``env``, ``seed``, ``env_steps``, ``wall_seconds``
  (training wall clock without evaluations), ``updates``, ``mean_return``, ``std_return``, ``mean_length``,
  ``returns``, ``lengths``);
- ``seed_<s>.done.json``: the completion marker, written last: the run's config (hyperparameters, budget,
  evaluation settings), its timings, the host and package versions. A run with this file is skipped by a re-run;
- ``seed_<s>.error.txt``: the traceback of a failed run (its first line: ``# {"algo": ..., "env": ..., "seed": ...}``);
  removed when the run later succeeds.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from rrl_sb3.benchmark.suite import RunSpec
from rrl_sb3.benchmark.worker import RunResult

DONE_SUFFIX = ".done.json"
ERROR_SUFFIX = ".error.txt"
RECORDS_SUFFIX = ".jsonl"


def env_slug(env_id: str) -> str:
    """``"rrl_sb3/PendulumNoVel-v1"`` -> ``"rrl_sb3-PendulumNoVel-v1"`` (a folder name)."""
    return env_id.replace("/", "-").replace(":", "-")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class ResultStore:
    """Reads and writes the results of runs under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def base(self, label: str, env_id: str, seed: int) -> Path:
        return self.root / label / env_slug(env_id) / f"seed_{seed}"

    def paths(self, run: RunSpec) -> tuple[Path, Path, Path]:
        """``(records, done marker, error)`` paths of a run."""
        base = self.base(run.label, run.env_id, run.seed)
        return (
            base.with_name(base.name + RECORDS_SUFFIX),
            base.with_name(base.name + DONE_SUFFIX),
            base.with_name(base.name + ERROR_SUFFIX),
        )

    def finished(self, run: RunSpec) -> dict[str, Any] | None:
        """The completion marker of a finished run, ``None`` if it has not finished."""
        done = self.paths(run)[1]
        return json.loads(done.read_text()) if done.is_file() else None

    def save(self, result: RunResult) -> None:
        """Write a run's records and its completion marker (finished) or traceback (failed)."""
        records, done, error = self.paths(result.run)
        records.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(records, "".join(json.dumps(r) + "\n" for r in result.records))
        if result.status == "finished":
            marker = {
                "config": result.run.config(),
                "env_steps": result.records[-1]["env_steps"] if result.records else None,
                "final_mean_return": result.final_return,
                "train_seconds": round(result.train_seconds, 2),
                "eval_seconds": round(result.eval_seconds, 2),
                "total_seconds": round(result.total_seconds, 2),
                "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                **result.info,
            }
            _write_atomic(done, json.dumps(marker, indent=1) + "\n")
            error.unlink(missing_ok=True)
        else:
            header = json.dumps({"algo": result.run.label, "env": result.run.env_id, "seed": result.run.seed})
            _write_atomic(error, f"# {header}\n{result.error or 'unknown error'}")
