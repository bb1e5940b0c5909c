"""Every question set answered as the service answers it, kept question by question, and two such runs compared: how
the changes to ranking, quoting and declining in docs/tuning.md are judged ("run s1 against k1, question by question").

    python -m bench.answers run NAME [--datasets DIR]   # reports/answers/NAME/ (about two minutes on 2 AVX-512 cores)
    python -m bench.answers compare BASE NEW            # per set, the summed figures, then each question that changed

A run asks, through `rag eval`, every set in benchmarks/ against the index in service, and three sets of the data sets
in indexes of their own: XQuAD 19-24 (English and Chinese questions over the Chinese paragraphs) and the CMRC 2018
trial file, every other article left out (`--split-articles`), as the README's reader section reports them. Run the
baseline before the change and the candidate after it; write the rule that judges them before either.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

RUNS = Path("reports/answers")
SETS = "sets"  # the report of benchmarks/*.jsonl, one file
XQUAD = "xquad-train"


def squad_runs(datasets: Path) -> dict[str, list[str]]:
    """Report name -> `rag eval` arguments, for the data sets' articles a run asks."""
    xquad, trial = datasets / XQUAD, datasets / "cmrc2018" / "cmrc2018_trial.json"
    zh, en = str(xquad / "xquad.zh.json"), str(xquad / "xquad.en.json")
    return {
        "xquad-en-zh": ["--squad", zh, "--questions-from", en, "--articles", "18:24", "--split-articles"],
        "xquad-zh-zh": ["--squad", zh, "--articles", "18:24", "--split-articles"],
        "cmrc-trial": ["--squad", str(trial), "--split-articles"],
    }


def run(name: str, datasets: Path, benchmarks: Path = Path("benchmarks")) -> Path:
    out = RUNS / name
    out.mkdir(parents=True, exist_ok=True)
    question_files = [arg for path in sorted(benchmarks.glob("*.jsonl")) for arg in ("--questions", str(path))]
    runs = {SETS: question_files, **squad_runs(datasets)}
    for report, arguments in runs.items():
        command = [sys.executable, "-m", "rag.cli", "eval", "--no-ablation", *arguments, "--output"]
        print(f"{report}: rag eval {' '.join(arguments[:2])} ...", flush=True)
        subprocess.run([*command, str(out / f"{report}.json")], check=True, stdout=subprocess.DEVNULL)
    return out


# What a question's answer is, for each kind of report: a change in any of these is a changed answer.
SET_FIELDS = ("predicted_answerable", "grade", "evidence_hit", "first_evidence_hit", "sources", "grouped_sources")
SQUAD_FIELDS = ("grade", "evidence_holds_answer", "first_evidence_holds_answer", "hit@5", "short_answer")


def set_figures(questions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts over one question set: answerable questions with a gold sentence quoted (first), answerable declined,
    unanswerable declined, and over the answerable questions, the documents with a gold quote and those of them the
    evidence quotes (a disputed question's sources are several such documents)."""
    answerable = [q for q in questions if q["answerable"]]
    shown, addressing = zip(*(_fraction(q.get("sources")) for q in answerable), strict=True) if answerable else ((), ())
    return {
        "answerable": len(answerable),
        "evidence": sum(bool(q["evidence_hit"]) for q in answerable),
        "first": sum(bool(q["first_evidence_hit"]) for q in answerable),
        "answerable declined": sum(not q["predicted_answerable"] for q in answerable),
        "unanswerable": len(questions) - len(answerable),
        "unanswerable declined": sum(not q["predicted_answerable"] for q in questions if not q["answerable"]),
        "gold sources quoted": sum(shown),
        "gold sources": sum(addressing),
    }


def squad_figures(questions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts over one data set's questions: as ``set_figures``, "not indexed" for unanswerable."""
    indexed = [q for q in questions if q["indexed"]]
    return {
        "answerable": len(indexed),
        "evidence": sum(bool(q["evidence_holds_answer"]) for q in indexed),
        "first": sum(bool(q["first_evidence_holds_answer"]) for q in indexed),
        "answerable declined": sum(q["grade"] != "answered" for q in indexed),
        "not indexed": len(questions) - len(indexed),
        "not indexed declined": sum(q["grade"] != "answered" for q in questions if not q["indexed"]),
    }


def _fraction(text: str | None) -> tuple[int, int]:
    if not text or "/" not in text:
        return 0, 0
    shown, addressing = text.split("/")
    return int(shown), int(addressing)


def reports(folder: Path) -> dict[str, tuple[list[dict[str, Any]], bool]]:
    """Report name -> (its questions, whether it is a data set's), for every report of a run."""
    out: dict[str, tuple[list[dict[str, Any]], bool]] = {}
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text("utf-8"))
        if "sets" in raw:
            for name, report in raw["sets"].items():
                out[Path(name).stem] = (report["variants"]["fused"]["per_question"], False)
        else:
            out[path.stem] = (raw["per_question"], True)
    return out


def compare(base: Path, new: Path) -> Iterator[str]:
    """Lines: per report, its figures (and the new ones where they differ), then each changed question."""
    before, after = reports(base), reports(new)
    for name in sorted(before.keys() | after.keys()):
        if name not in before or name not in after:
            yield f"{name}: only in {base if name in before else new}"
            continue
        (old, squad), (now, _) = before[name], after[name]
        figures = squad_figures if squad else set_figures
        fields = SQUAD_FIELDS if squad else SET_FIELDS
        was, is_ = figures(old), figures(now)
        yield f"{name}: {_figures(was)}" + ("" if was == is_ else f"\n  -> {_figures(is_)}")
        by_id = {q["id"]: q for q in now}
        for q in old:
            other = by_id.get(q["id"])
            if other is None:
                yield f"  {q['id']}: not in {new}"
                continue
            for field in fields:
                if q.get(field) != other.get(field):
                    yield f"  {q['id']} {field}: {q.get(field)!r} -> {other.get(field)!r}  {q['question'][:60]}"


def _figures(figures: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in figures.items())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    steps = parser.add_subparsers(dest="step", required=True)
    asked = steps.add_parser("run", help="answer every set into reports/answers/NAME/")
    asked.add_argument("name")
    asked.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    compared = steps.add_parser("compare", help="two runs, question by question")
    compared.add_argument("base")
    compared.add_argument("new")
    args = parser.parse_args(argv)
    if args.step == "run":
        if not (args.datasets / XQUAD).is_dir():
            parser.error(f"no data sets in {args.datasets} (--datasets)")
        print(run(args.name, args.datasets))
    else:
        for folder in (RUNS / args.base, RUNS / args.new):
            if not folder.is_dir():
                parser.error(f"no run {folder.name} in {RUNS}")
        for line in compare(RUNS / args.base, RUNS / args.new):
            print(line)


if __name__ == "__main__":
    main()
