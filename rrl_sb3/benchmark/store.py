"""The results directory: one folder per algorithm label and env, three files per seed, and the skipped pairs.

``<results>/<label>/<env slug>/``, the env slug being the id with ``/`` and ``:`` replaced by ``-``:

- ``seed_<s>.jsonl``: one JSON record per evaluation (``algo``, ``env``, ``seed``, ``env_steps``, ``wall_seconds``
  (training wall clock without evaluations), ``cpu_seconds`` (training CPU time without evaluations; absent from
  records written before it was measured), ``updates``, ``mean_return``, ``std_return``, ``mean_length``,
  ``returns``, ``lengths``; the final record of a run stopped by its CPU budget also has ``"stopped_on":
  "cpu_seconds"``);
- ``seed_<s>.done.json``: the completion marker, written last: the run's config (hyperparameters, budgets,
  evaluation settings), why it stopped (``stopped_on``: ``"n_timesteps"`` or ``"cpu_seconds"``; absent from older
  markers), its timings, the host and package versions. A run with this file is skipped by a re-run;
- ``seed_<s>.error.txt``: the traceback of a failed run (its first line: ``# {"algo": ..., "env": ..., "seed": ...}``);
  removed when the run later succeeds;
- ``seed_<s>.checkpoints/``: the checkpoints of an unfinished run (:mod:`rrl_sb3.benchmark.worker`), from which a
  re-run resumes; removed once the run has finished and its records are written (unless kept on request).

A run that resumed after interruptions says so in its marker: ``"resumed"``, one entry per resumption
(``{"env_steps": ..., "checkpoint": ...}``); a run that never was has ``"resumed": []`` (older markers: absent).

``<results>/skipped.json`` lists the algorithm/env pairs that suites left out because the algorithm cannot act in the
env's action space (:class:`SkippedPair`), merged over every suite run into the directory, so that the report can say
"n/a" for them without building envs or algorithms. Directories written before it existed do not have it.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

# The records it reads and writes live below it (records.py); SkippedPair stays importable from here, its former home.
from rrl_sb3.benchmark.records import RunResult, RunSpec, SkippedPair

DONE_SUFFIX = ".done.json"
ERROR_SUFFIX = ".error.txt"
CHECKPOINTS_SUFFIX = ".checkpoints"
#: name prefix of a run's checkpoint directories in it (``checkpoint_<env steps>_steps``)
CHECKPOINT_PREFIX = "checkpoint"
RECORDS_SUFFIX = ".jsonl"
SKIPPED_FILE = "skipped.json"


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

    def checkpoint_dir(self, run: RunSpec) -> Path:
        """Where a run's checkpoints go while it is unfinished."""
        base = self.base(run.label, run.env_id, run.seed)
        return base.with_name(base.name + CHECKPOINTS_SUFFIX)

    def remove_checkpoints(self, run: RunSpec) -> None:
        """Delete a run's checkpoint directory (once its result is saved)."""
        shutil.rmtree(self.checkpoint_dir(run), ignore_errors=True)

    def skipped(self) -> list[SkippedPair]:
        """The pairs of :data:`SKIPPED_FILE`; none for a directory without it (written before it existed)."""
        path = self.root / SKIPPED_FILE
        if not path.is_file():
            return []
        return [SkippedPair.from_dict(item) for item in json.loads(path.read_text())["skipped"]]

    def save_skipped(self, skipped: Sequence[SkippedPair], planned: Iterable[tuple[str, str]] = ()) -> None:
        """Merge a suite's skipped pairs into :data:`SKIPPED_FILE`.

        Pairs saved by earlier suites stay unless this suite lists them again (its entry replaces theirs) or runs them
        (``planned``: the ``(label, env id)`` pairs it has runs for). Nothing is written when there is nothing to save
        and no file yet.

        :param skipped: the suite's skipped pairs (:attr:`rrl_sb3.benchmark.suite.Plan.skipped_pairs`)
        :param planned: ``(label, env id)`` of the suite's runs
        """
        replaced = {(pair.algo, pair.env) for pair in skipped} | set(planned)
        merged = [pair for pair in self.skipped() if (pair.algo, pair.env) not in replaced] + list(skipped)
        path = self.root / SKIPPED_FILE
        if not merged and not path.is_file():
            return
        merged.sort(key=lambda pair: (pair.algo, pair.env))
        about = "algorithm/env pairs left out of the suites run here: the algorithm cannot act in the env's action space"
        entries = ",\n".join("  " + json.dumps({**asdict(pair), "supported": list(pair.supported)}) for pair in merged)
        self.root.mkdir(parents=True, exist_ok=True)
        # one pair a line: readable, and a merge shows as added or removed lines in a diff
        listed = f"[\n{entries}\n ]" if entries else "[]"
        _write_atomic(path, f'{{\n "about": {json.dumps(about)},\n "skipped": {listed}\n}}\n')

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
                "stopped_on": result.stopped_on,
                "resumed": result.resumed,
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
