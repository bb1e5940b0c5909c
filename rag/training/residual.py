"""Fine-tune the reader to correct the sentence scorer instead of replacing it (an experiment, not served:
README, "The reader").

Each question's reader candidates, exactly as the pipeline builds them (``rag.rankers.reader.candidates``:
the scorer's best 16, two per source first) in indexes built as ``rag eval --squad --split-articles`` builds
them, are ordered by ``score / tau + alpha * logit``: the sentence scorer's score and the reader's relevance
logit, with tau and alpha learned along with the reader and alpha starting at 0, so training starts from the
scorer's own order. The loss is a softmax over each question's candidates (its gold ones against the rest)
plus half the span loss on the gold one. Training articles: XQuAD 1-18 (English and Chinese questions over
the Chinese paragraphs) and CMRC 2018 dev; judged on the reader's dev articles (XQuAD 19-24, the CMRC trial
file) and on the seed question sets:

    python -m rag.training.residual collect [--datasets DIR] --out DIR   # the candidates (~25 min)
    python -m rag.training.residual collect-other-half --out DIR         # XQuAD 1-18's odd articles too
    python -m rag.training.residual train --out DIR [--minutes 60]       # one pass (~45 min on 2 cores)
    python -m rag.training.residual train --out DIR2 --from DIR --seed 14  # another pass, from the last
    python -m rag.training.residual judge --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rag.config import Settings
from rag.coverage import NEUTRAL
from rag.embedding import Embedder, load_embedder, resolve_model_path
from rag.evaluation.metrics import SEED_SETS, Span, gold_spans, load_questions
from rag.evaluation.squad import opener, squad_index
from rag.extraction import ScoredSentence
from rag.pipeline import Pipeline
from rag.rankers.reader import candidate, candidates
from rag.rankers.readernet import Reader, encode, load_reader, save_reader, token_targets
from rag.training.pairs import DEV_SETS, reader_sets, xquad_over_chinese
from rag.training.squad import Article
from rag.types import Candidate

CANDIDATES = 16
LISTS = "candidates.jsonl"


@dataclasses.dataclass(frozen=True)
class Listed:
    """One question's reader candidates: the scorer's score of each, whether it holds the answer, and where
    (offsets in the candidate's sentence, when the data set gives them)."""

    set: str
    question: str
    candidates: tuple[Candidate, ...]
    scores: tuple[float, ...]
    gold: tuple[bool, ...]
    spans: tuple[tuple[int, int] | None, ...]

    @property
    def rankable(self) -> bool:
        return any(self.gold) and not all(self.gold)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Listed:
        raw = json.loads(line)
        return cls(
            raw["set"],
            raw["question"],
            tuple(Candidate(**c) for c in raw["candidates"]),
            tuple(raw["scores"]),
            tuple(raw["gold"]),
            tuple(None if s is None else (s[0], s[1]) for s in raw["spans"]),
        )


def listed(
    pipeline: Pipeline, name: str, question: str, gold: Callable[[ScoredSentence], tuple[int, int] | bool]
) -> Listed:
    """``gold(sentence)``: the answer's offsets in the sentence, True when it holds it without offsets, or False."""
    _, scored, _ = pipeline.scored(question)
    chosen = candidates(scored, CANDIDATES)
    found = [gold(s) for s in chosen]
    return Listed(
        name,
        question,
        tuple(candidate(s, pipeline.store.documents) for s in chosen),
        tuple(s.score for s in chosen),
        tuple(f is not False for f in found),
        tuple(f if isinstance(f, tuple) else None for f in found),
    )


def squad_lists(
    settings: Settings, embedder: Embedder, name: str, articles: Sequence[Article], asked_as: dict[str, str], size: int
) -> list[Listed]:
    """The answerable questions of ``articles``, in indexes of ``size`` articles without the odd ones."""
    open_pipeline = opener(settings, embedder, NEUTRAL)

    out = []
    for start in range(0, len(articles), size):
        with squad_index(articles[start : start + size], True, open_pipeline) as indexed:
            for asked in indexed.questions(asked_as):
                found = indexed.gold(asked) if asked.indexed else None
                if found is None:
                    continue
                document, (a, b) = found
                gold = functools.partial(_holding, document.doc_id, a, b)
                out.append(listed(indexed.pipeline, name, asked.question, gold))
        print(f"{name}: {len(out)} questions", flush=True)
    return out


def collect(datasets: Path, out: Path) -> None:
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    lists = [
        item
        for s in reader_sets(datasets)
        for item in squad_lists(settings, embedder, s.name, s.articles, s.asked_as, s.size)
    ]
    pipeline = Pipeline.from_settings(settings, embedder=embedder, coverage=NEUTRAL)
    by_file = {d.source_file: d for d in pipeline.documents()}
    for path in SEED_SETS:
        for q in load_questions(path):
            if q.answerable:
                holds = functools.partial(overlapping, gold_spans(q, by_file)[0])
                lists.append(listed(pipeline, f"seeds {path.stem}", q.question, holds))
    out.mkdir(parents=True, exist_ok=True)
    (out / LISTS).write_text("".join(item.to_json() + "\n" for item in lists), "utf-8")


def collect_other_half(datasets: Path, out: Path) -> None:
    """XQuAD 1-18's questions again, in indexes of the articles ``collect`` left out (the odd ones), added to
    ``out``'s lists: twice the English questions to train on."""
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    zh, asked = xquad_over_chinese(datasets / "xquad-train")
    lists = []
    for lang, texts in asked.items():
        # zh[1:18] in groups of 6 indexes articles 1, 3, 5, then 7, 9, 11, then 13, 15, 17.
        lists += squad_lists(settings, embedder, f"train {lang}→zh XQuAD 1-18, odd articles", zh[1:18], texts, 6)
    with (out / LISTS).open("a", encoding="utf-8") as f:
        f.writelines(item.to_json() + "\n" for item in lists)


def _holding(doc_id: str, start: int, end: int, s: ScoredSentence) -> tuple[int, int] | bool:
    """The answer's offsets in ``s`` when ``s`` holds the answer at ``start:end`` of document ``doc_id``."""
    inside = s.chunk.doc_id == doc_id and s.sentence.start <= start and end <= s.sentence.end
    return (start - s.sentence.start, end - s.sentence.start) if inside else False


def overlapping(spans: Sequence[Span], s: ScoredSentence) -> bool:
    """Whether ``s`` overlaps one of a seed question's gold quotes."""
    return any(span.overlaps(s.chunk.doc_id, s.sentence.start, s.sentence.end) for span in spans)


class Blend(nn.Module):
    """``score / tau + alpha * logit``; from tau 0.05 and alpha 0: the scorer's order."""

    def __init__(self, tau: float = 0.05, alpha: float = 0.0) -> None:
        super().__init__()
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))
        self.alpha = nn.Parameter(torch.tensor(alpha))

    def forward(self, scores: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        return scores / self.log_tau.exp() + self.alpha * logits


def listwise_loss(order: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Minus the log of the softmax mass on the gold candidates."""
    return torch.logsumexp(order, 0) - torch.logsumexp(order[gold], 0)


def train(out: Path, minutes: float, seed: int = 13, start: Path | None = None) -> None:
    """One pass over the training questions in an order shuffled by ``seed``; from the shipped reader and the
    scorer's order, or from the reader (and its tau and alpha) that an earlier pass saved in ``start``."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    settings = Settings.from_env()
    model_dir = Path(resolve_model_path(settings))
    reader = load_reader(model_dir, settings.embedding_model, None if start is None else start / "reader")
    residual = reader.manifest.get("residual")
    blend = Blend(residual["tau"], residual["alpha"]) if residual else Blend()
    earlier = residual.get("passes", [residual]) if residual else []
    if start is not None and not (out / LISTS).exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(start / LISTS, out / LISTS)
    net = reader.net.train()
    rows = [item for item in _load(out) if item.set.startswith("train") and item.rankable]
    random.shuffle(rows)
    for p in net.encoder.embeddings.parameters():
        p.requires_grad = False
    heads = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
    layers = [p for n, p in net.named_parameters() if p.requires_grad and n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": heads, "lr": 2e-4},
            {"params": layers, "lr": 2e-5},
            {"params": list(blend.parameters()), "lr": 2e-2, "weight_decay": 0.0},
        ]
    )
    began, losses = time.time(), []
    print(f"{len(rows)} training questions", flush=True)
    for step, item in enumerate(rows):
        if time.time() - began > minutes * 60:
            print(f"stopped by the time limit after {step} questions", flush=True)
            break
        encoded = encode(reader.tokenizer, [item.question] * len(item.candidates), item.candidates)
        relevance, span = net(encoded)
        loss = listwise_loss(blend(torch.tensor(item.scores), relevance), torch.tensor(item.gold))
        answers = [
            s if s is not None and s[1] <= len(c.sentence) else None
            for c, s in zip(item.candidates, item.spans, strict=True)
        ]
        starts, ends = token_targets(encoded, answers)
        if any(s >= 0 for s in starts):
            ce = nn.functional.cross_entropy
            loss = loss + 0.25 * (ce(span[..., 0], torch.tensor(starts)) + ce(span[..., 1], torch.tensor(ends)))
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0:
            tau, alpha = blend.log_tau.exp().item(), blend.alpha.item()
            print(
                f"step {step} loss {np.mean(losses[-50:]):.3f} tau {tau:.4f} alpha {alpha:.4f} "
                f"{time.time() - began:.0f}s",
                flush=True,
            )
    tau, alpha = blend.log_tau.exp().item(), blend.alpha.item()
    this = {"tau": tau, "alpha": alpha, "questions": len(losses), "seed": seed, "from": str(start or "shipped")}
    manifest = {**reader.manifest, "residual": {"tau": tau, "alpha": alpha, "passes": [*earlier, this]}}
    save_reader(net, manifest, out / "reader")


def judge(out: Path) -> None:
    """Share of answerable questions with a gold candidate whose first candidate is gold, per set."""
    settings = Settings.from_env()
    model_dir = Path(resolve_model_path(settings))
    shipped = load_reader(model_dir, settings.embedding_model)
    tuned = load_reader(model_dir, settings.embedding_model, out / "reader")
    blend = Blend(tuned.manifest["residual"]["tau"], tuned.manifest["residual"]["alpha"])
    lists = [item for item in _load(out) if not item.set.startswith("train") and any(item.gold)]
    firsts = {id(item): _firsts(item, shipped, tuned, blend) for item in lists}
    groups = {name: [i for i in lists if i.set == name] for name in DEV_SETS}
    groups["dev, pooled"] = [i for i in lists if i.set in DEV_SETS]
    groups["seed sets"] = [i for i in lists if i.set.startswith("seeds")]
    print(f"{'set':<22}{'questions':>10}{'scorer':>9}{'residual':>10}{'tuned reader':>14}{'shipped reader':>16}")
    for name, items in groups.items():
        if items:
            shares = np.array([firsts[id(item)] for item in items]).mean(axis=0)
            cells = "".join(f"{v:>{w}.3f}" for v, w in zip(shares, (9, 10, 14, 16), strict=True))
            print(f"{name:<22}{len(items):>10}{cells}")


@torch.inference_mode()
def _firsts(item: Listed, shipped: Reader, tuned: Reader, blend: Blend) -> tuple[bool, bool, bool, bool]:
    """Whether the first candidate is gold by the scorer, the residual order, the tuned and the shipped reader."""
    encoded = encode(tuned.tokenizer, [item.question] * len(item.candidates), item.candidates)
    tuned_logits, _ = tuned.net(encoded)
    shipped_logits, _ = shipped.net(encoded)
    scores = torch.tensor(item.scores)
    orders = (scores, blend(scores, tuned_logits), tuned_logits, shipped_logits)
    return tuple(item.gold[int(torch.argmax(o))] for o in orders)  # type: ignore[return-value]


def _load(out: Path) -> list[Listed]:
    return [Listed.from_json(line) for line in (out / LISTS).read_text("utf-8").splitlines() if line]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("step", choices=("collect", "collect-other-half", "train", "judge"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--minutes", type=float, default=60.0, help="time limit of the one training pass")
    parser.add_argument("--seed", type=int, default=13, help="the order of the training questions")
    parser.add_argument(
        "--from", dest="start", type=Path, help="continue from the reader an earlier pass saved in this --out"
    )
    args = parser.parse_args(argv)
    if args.step == "collect":
        collect(args.datasets, args.out)
    elif args.step == "collect-other-half":
        collect_other_half(args.datasets, args.out)
    elif args.step == "train":
        train(args.out, args.minutes, args.seed, args.start)
    else:
        judge(args.out)


if __name__ == "__main__":
    main()
