"""A verifier for the "not covered" decision: does the scorer's first sentence answer the question? (Served with
RAG_VERIFIER=on, the default: README, "The verifier"; `make verifier` runs the three steps below and ships it.)

Without it the coverage model (``rag.coverage``) judges from retrieval signals alone. Here the shipped reader's top
layers are retrained for one job, by binary cross-entropy on the pipeline's own first sentence of each
question: 1 when that sentence holds the answer's start, 0 when the question's article is not in the index or
its paragraph is left out (a near miss; answerable questions whose first sentence misses the answer are left
out of training). The verifier's logit is then an eighth coverage signal, the model fitted on the seed sets as
``bench/calibrate.py`` fits it, and judged against the retrieval-only model on the reader's dev articles, on DRCD's
test file (which no reader and no fit has seen) and on the seed sets leave-one-out.

Training questions: XQuAD 1-18 (English and Chinese over the Chinese paragraphs) and CMRC 2018 dev, in indexes
built as ``rag eval --squad --split-articles`` builds them (every other article left out), with paragraph 4k+3
of each indexed article left out too (near misses):

    python -m rag.training.verifier collect [--datasets DIR] --out DIR   # every question's first sentences (~17 min)
        [--languages de,es,...]  # XQuAD 1-18's questions in more languages over the Chinese paragraphs, to train on
        [--append]               # keep DIR's rows and collect only the sets they lack
        [--glossed]              # CMRC 2018 dev's questions glossed into English too, to train on
    python -m rag.training.verifier train --out DIR [--read N]           # 2 epochs (~8 min on 2 cores)
    python -m rag.training.verifier judge --out DIR                      # the rule's figures (~2 min)

``--read N`` trains it on each of the scorer's first N sentences (answerable questions' misses as negatives too)
and its signal is then its highest logit over them; its manifest records N, and ``judge`` and the service read as
many. N = 3 was tried and is not shipped (docs/tuning.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from rag.config import Settings
from rag.coverage import DECLINED_ANSWER_COST, NEUTRAL, NO_SENTENCE, VERIFIED, default_model, fit, leave_one_out
from rag.embedding import Embedder, load_embedder, resolve_model_path
from rag.evaluation.metrics import SEED_SETS, gold_spans, load_questions
from rag.evaluation.squad import every_fourth_paragraph, opener, squad_index
from rag.extraction import ScoredSentence
from rag.pipeline import Pipeline
from rag.rankers.reader import candidate
from rag.rankers.readernet import Reader, ReaderNet, encode, load_reader, save_weights
from rag.rankers.reading import VERIFIER_MANIFEST, VERIFIER_WEIGHTS, default_dir, weights_digest
from rag.rankers.reading import WEIGHTS as READER_WEIGHTS
from rag.training import codeswitch
from rag.training.calibrate import auc
from rag.training.pairs import DEV_SETS, QuestionSet, question_texts, reader_sets
from rag.training.residual import overlapping
from rag.training.squad import Article, load_squad
from rag.training.train import code_version
from rag.types import Candidate

JUDGED = ("seeds", *DEV_SETS, "zh→zh DRCD test")  # the residual reader's dev sets, and one no reader has seen
ROWS = "firsts.jsonl"
TRAINING_DATA = (
    "the scorer's first sentence for XQuAD articles 1-18 (English and Chinese questions over the Chinese paragraphs) "
    "and CMRC 2018 dev, asked as `rag eval --squad --split-articles` asks them, paragraph 4k+3 left out: 1 when it "
    "holds the answer's start, 0 when the question's article or paragraph is not indexed"
)
GLOSSED = "train glossed→zh CMRC dev"
COLLECTED = 3  # the scorer's first sentences kept per question (``--read`` chooses how many the verifier reads)
TRAINED_LAYERS = 2  # the reader's top layers retrained; its bottom ones and the embeddings stay as shipped
EPOCHS, BATCH, LEARNING_RATE = 2, 32, 5e-5


@dataclasses.dataclass(frozen=True)
class First:
    """One question's first sentences by the scorer (as the reader reads them, best first, up to COLLECTED), its
    coverage signals, its kind (answerable, not_indexed or near) and whether each sentence holds the answer's
    start."""

    set: str
    question: str
    signals: tuple[float, ...]
    candidates: tuple[Candidate, ...]
    kind: str
    golds: tuple[bool, ...]

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"

    @property
    def candidate(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def gold(self) -> bool:
        return bool(self.golds) and self.golds[0]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> First:
        raw = json.loads(line)
        if "candidates" not in raw:
            raise ValueError(f"{ROWS} was collected by an older version (one sentence per question): run collect again")
        found = tuple(Candidate(**c) for c in raw["candidates"])
        return cls(raw["set"], raw["question"], tuple(raw["signals"]), found, raw["kind"], tuple(raw["golds"]))


def first(pipeline: Pipeline, name: str, question: str, kind: str, holds: Callable[[ScoredSentence], bool]) -> First:
    _, scored, signals = pipeline.scored(question)
    top = scored[:COLLECTED]
    found = tuple(candidate(s, pipeline.store.documents) for s in top)
    golds = tuple(kind == "answerable" and holds(s) for s in top)
    return First(name, question, tuple(signals.vector().tolist()), found, kind, golds)


def squad_firsts(
    settings: Settings,
    embedder: Embedder,
    name: str,
    articles: Sequence[Article],
    asked_as: dict[str, str],
    size: int,
    near: bool,
) -> list[First]:
    """Every question of ``articles``, in indexes of ``size`` articles without the odd ones and, with ``near``,
    without paragraph 4k+3 of each indexed article."""
    open_pipeline = opener(settings, embedder, NEUTRAL)
    leave_out = every_fourth_paragraph if near else None
    out = []
    for start in range(0, len(articles), size):
        with squad_index(articles[start : start + size], True, open_pipeline, leave_out) as indexed:
            for asked in indexed.questions(asked_as):
                kind = indexed.kind(asked)
                found = indexed.gold(asked) if kind == "answerable" else None
                holds = functools.partial(_holds_start, found[0].doc_id, found[1][0]) if found else _nothing
                out.append(first(indexed.pipeline, name, asked.question, kind, holds))
        print(f"{name}: {len(out)} questions", flush=True)
    return out


def _holds_start(doc_id: str, start: int, s: ScoredSentence) -> bool:
    return s.chunk.doc_id == doc_id and s.sentence.start <= start < s.sentence.end


def _nothing(s: ScoredSentence) -> bool:
    return False


def collect(
    datasets: Path, out: Path, languages: Sequence[str] = (), append: bool = False, glossed: bool = False
) -> None:
    """Every question's first sentences into ``out``: the seed sets, the reader's sets, DRCD's test file and, to
    train on, XQuAD 1-18's questions in ``languages`` over the Chinese paragraphs and, with ``glossed``, CMRC 2018
    dev's questions glossed into English (``glossed_set``). With ``append``, the rows already in ``out`` are kept
    and only the sets they lack are collected."""
    drcd = load_squad(datasets / "drcd" / "DRCD_test.json")
    sets = [
        *reader_sets(datasets),
        *more_languages(datasets, languages),  # first: a wrong language fails before the model loads
        *([glossed_set(datasets)] if glossed else []),
        QuestionSet(JUDGED[-1], drcd, question_texts(drcd), 126),
    ]
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    rows = _load(out) if append and (out / ROWS).is_file() else []
    have = {row.set for row in rows}
    if JUDGED[0] not in have:
        rows += seed_firsts(settings, embedder)
    for s in sets:
        if s.name in have:
            continue
        # Near misses where the verifier trains, and in DRCD's test file; the dev articles as `rag eval --squad`.
        near = s.training or s.name == JUDGED[-1]
        rows += squad_firsts(settings, embedder, s.name, s.articles, s.asked_as, s.size, near)
    out.mkdir(parents=True, exist_ok=True)
    _write(out, rows)


def more_languages(datasets: Path, languages: Sequence[str]) -> list[QuestionSet]:
    """XQuAD 1-18's questions in ``languages`` (besides English and Chinese, which the reader's sets ask) over its
    Chinese paragraphs: training sets, named as the reader's are."""
    if not languages:
        return []
    zh = load_squad(datasets / "xquad-train" / "xquad.zh.json")[:18]
    out = []
    for lang in languages:
        path = datasets / "xquad-train" / f"xquad.{lang}.json"
        if lang in ("en", "zh"):
            raise ValueError(f"--languages: {lang} is asked already by the reader's sets; name other languages")
        if not path.is_file():
            raise ValueError(f"--languages: no XQuAD file {path.name} in {path.parent}")
        out.append(QuestionSet(f"train {lang}→zh XQuAD 1-18", zh, question_texts(load_squad(path)), 6))
    return out


def glossed_set(datasets: Path) -> QuestionSet:
    """CMRC 2018 dev's questions glossed word by word into English (``rag.training.codeswitch``) over its paragraphs,
    in the indexes its Chinese questions are asked in: a training set of questions asked across languages."""
    dev = load_squad(datasets / "cmrc2018" / "cmrc2018_dev.json")
    asked = {qid: codeswitch.glossed(question) for qid, question in question_texts(dev).items()}
    return QuestionSet(GLOSSED, dev, asked, 283)


def _write(out: Path, rows: Sequence[First]) -> None:
    """All rows at once, through a temporary file: an interrupted collect leaves the earlier rows whole."""
    partial = out / (ROWS + ".partial")
    partial.write_text("".join(row.to_json() + "\n" for row in rows), "utf-8")
    partial.replace(out / ROWS)


def seed_firsts(settings: Settings, embedder: Embedder) -> list[First]:
    """The seed sets' questions; their unanswerable ones are near misses (the corpus is about their subject)."""
    pipeline = Pipeline.from_settings(settings, embedder=embedder, coverage=NEUTRAL)
    by_file = {d.source_file: d for d in pipeline.documents()}
    rows = []
    for path in SEED_SETS:
        for q in load_questions(path):
            holds = functools.partial(overlapping, gold_spans(q, by_file)[0])
            rows.append(first(pipeline, JUDGED[0], q.question, "answerable" if q.answerable else "near", holds))
    return rows


def training_pairs(rows: Sequence[First], read: int = 1) -> list[tuple[str, Candidate, float]]:
    """(question, sentence, label) of the training sets. With ``read`` 1 (as shipped), the first sentence: 1 when
    it holds the answer, 0 when the question is not indexed or a near miss; an answerable question whose first
    sentence misses it is left out. With more, each of the first ``read`` sentences: 1 when it holds the answer,
    else 0 (a sentence of an answerable question that does not answer it is a negative too)."""
    if read == 1:
        return [
            (row.question, row.candidate, 1.0 if row.answerable else 0.0)
            for row in rows
            if row.set.startswith("train") and row.candidate is not None and (row.gold or not row.answerable)
        ]
    return [
        (row.question, c, float(gold))
        for row in rows
        if row.set.startswith("train")
        for c, gold in zip(row.candidates[:read], row.golds[:read], strict=True)
    ]


def trained_names(net: ReaderNet) -> list[str]:
    """The parameters training changes: the top TRAINED_LAYERS layers and the relevance head."""
    top = len(net.encoder.encoder.layer) - TRAINED_LAYERS
    layers = tuple(f"encoder.encoder.layer.{i}." for i in range(top, top + TRAINED_LAYERS))
    return [n for n, _ in net.named_parameters() if n.startswith((*layers, "relevance."))]


def train(out: Path, seed: int = 13, epochs: int = EPOCHS, read: int = 1) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    settings = Settings.from_env()
    reader = load_reader(Path(resolve_model_path(settings)), settings.embedding_model)
    net = reader.net.train()
    rows = _load(out)
    pairs = training_pairs(rows, read)
    positive = sum(label for *_, label in pairs)
    weights = (len(pairs) / (2 * max(len(pairs) - positive, 1)), len(pairs) / (2 * max(positive, 1)))
    print(f"{len(pairs)} training pairs, {positive:.0f} positive", flush=True)
    names = set(trained_names(net))
    for n, p in net.named_parameters():
        p.requires_grad = n in names
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=LEARNING_RATE)
    began = time.time()
    for epoch in range(epochs):
        random.shuffle(pairs)
        losses = []
        for step in range(0, len(pairs), BATCH):
            batch = pairs[step : step + BATCH]
            relevance, _ = net(encode(reader.tokenizer, [b[0] for b in batch], [b[1] for b in batch]))
            labels = torch.tensor([b[2] for b in batch])
            weight = torch.where(labels == 1, weights[1], weights[0])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(relevance, labels, weight=weight)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            losses.append(loss.item())
            if step // BATCH % 20 == 0:
                print(
                    f"epoch {epoch} step {step // BATCH} loss {np.mean(losses[-20:]):.3f} {time.time() - began:.0f}s",
                    flush=True,
                )
        print(f"epoch {epoch} mean loss {np.mean(losses):.4f} {time.time() - began:.0f}s", flush=True)
    state = dict(net.named_parameters())
    save_weights({n: state[n] for n in sorted(names)}, out / VERIFIER_WEIGHTS)
    manifest = {
        "base_model": settings.embedding_model,
        "reader_sha256": weights_digest(default_dir() / READER_WEIGHTS),  # its bottom layers are that reader's
        "trained": sorted(names),
        "data": {
            "train": TRAINING_DATA,
            "sets": sorted({r.set for r in rows if r.set.startswith("train")}),
            "pairs": len(pairs),
            "positives": int(positive),
        },
        "seed": seed,
        "config": {"epochs": epochs, "batch_size": BATCH, "lr": LEARNING_RATE, "class_balanced": True, "read": read},
        "code_version": code_version(),
        "train_minutes": round((time.time() - began) / 60, 1),
    }
    (out / VERIFIER_MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")


def load_verifier(out: Path) -> Reader:
    """The shipped reader with the verifier's layers and head (in ``out``) in place of its own."""
    settings = Settings.from_env()
    return load_reader(Path(resolve_model_path(settings)), settings.embedding_model, verifier=out)


@torch.inference_mode()
def logits(verifier: Reader, rows: Sequence[First], read: int = 1) -> np.ndarray:
    """The verifier's highest logit over each row's first ``read`` sentences; NO_SENTENCE where retrieval found
    none."""
    out = np.full(len(rows), -np.inf)
    pending = [(i, row.question, c) for i, row in enumerate(rows) for c in row.candidates[:read]]
    for start in range(0, len(pending), 64):
        part = pending[start : start + 64]
        relevance, _ = verifier.net(encode(verifier.tokenizer, [q for _, q, _ in part], [c for *_, c in part]))
        for (i, _, _), value in zip(part, relevance.numpy(), strict=True):
            out[i] = max(out[i], float(value))
    out[np.isinf(out)] = NO_SENTENCE
    return out


def costs(answered: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(answerable declined, unanswerable declined, the cost: DECLINED_ANSWER_COST x the first + 1 - the second)."""
    hidden, declined = float(np.mean(~answered[y == 1])), float(np.mean(~answered[y == 0]))
    return hidden, declined, DECLINED_ANSWER_COST * hidden + 1 - declined


def judge(out: Path) -> None:
    """The shipped coverage model against the one with the verifier's logit as an eighth signal, fitted on the
    seed sets: per set, answerable declined / unanswerable declined / cost (the seeds leave-one-out), printed and
    written into the verifier's manifest. It reads as many sentences as the verifier was trained to (as served)."""
    rows = _load(out)
    verifier = load_verifier(out)
    read = verifier.reads
    shipped = default_model()
    sets = {name: [r for r in rows if r.set == name] for name in JUDGED}
    data = {}
    for name, items in sets.items():
        x = np.array([r.signals for r in items])
        data[name] = (
            x,
            np.column_stack([x, logits(verifier, items, read)]),
            np.array([float(r.answerable) for r in items]),
        )
    seeds7, seeds8, y = data[JUDGED[0]]
    fitted = fit(seeds8, y, names=VERIFIED)
    print(f"{'set':<20}{'questions':>10}{'shipped':>24}{'with the verifier':>24}{'AUC':>16}")
    judged = {}
    for name, (x7, x8, labels) in data.items():
        if name == JUDGED[0]:
            before, after = leave_one_out(seeds7, y), leave_one_out(seeds8, y)
        else:
            before = np.array([shipped.probability_vector(v) for v in x7])
            after = np.array([fitted.probability_vector(v) for v in x8])
        figures = [costs(p >= shipped.threshold, labels) for p in (before, after)]
        aucs = [auc(p[labels == 1], p[labels == 0]) for p in (before, after)]
        cells = ["/".join(f"{v:.3f}" for v in f) for f in figures]
        print(f"{name:<20}{len(labels):>10}{cells[0]:>24}{cells[1]:>24}{aucs[0]:>10.3f}->{aucs[1]:.3f}")
        judged[name] = {
            "questions": len(labels),
            **{
                side: dict(zip(("answerable_declined", "unanswerable_declined", "cost", "auc"), (*f, a), strict=True))
                for side, f, a in zip(("retrieval_signals", "with_verifier"), figures, aucs, strict=True)
            },
        }
    manifest = json.loads((out / VERIFIER_MANIFEST).read_text("utf-8"))
    rounded = json.loads(json.dumps(judged), parse_float=lambda v: round(float(v), 4))
    manifest["judged"] = {"fitted_on": "the seed sets (leave-one-out on them)", "read": read, "sets": rounded}
    (out / VERIFIER_MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _load(out: Path) -> list[First]:
    return [First.from_json(line) for line in (out / ROWS).read_text("utf-8").splitlines() if line]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("step", choices=("collect", "train", "judge"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--read",
        type=int,
        default=1,
        choices=range(1, COLLECTED + 1),
        help="train: the scorer's first sentences it learns to read (judge and the service read as many)",
    )
    parser.add_argument(
        "--languages",
        default="",
        help="collect: XQuAD 1-18's questions in these languages too (comma-separated: de,es,...), to train on",
    )
    parser.add_argument("--append", action="store_true", help="collect: keep --out's rows, collect the sets they lack")
    parser.add_argument(
        "--glossed", action="store_true", help="collect: CMRC 2018 dev's questions glossed into English, to train on"
    )
    args = parser.parse_args(argv)
    if args.step == "collect":
        try:
            languages = [lang for lang in args.languages.split(",") if lang]
            collect(args.datasets, args.out, languages, args.append, args.glossed)
        except ValueError as e:
            parser.error(str(e))
    elif args.step == "train":
        train(args.out, args.seed, read=args.read)
    else:
        judge(args.out)


if __name__ == "__main__":
    main()
