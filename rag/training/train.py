"""Train the reader from the public data sets in ``../shared/datasets`` (``make reader``).

Chinese questions over Chinese text come from CMRC 2018 (dev) and DRCD (dev); cross-lingual ones from
XQuAD, whose questions share their id across languages. Articles are split, never questions: XQuAD's
last DEV_ARTICLES articles and CMRC's trial file are the dev set, used for the figures printed per
epoch, the choice of epoch, the calibration and the "not covered" threshold.
"""

from __future__ import annotations

import argparse
import math
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from rag.config import DEFAULT_MODEL, Settings
from rag.embedding import resolve_model_path
from rag.evaluation.metrics import char_f1
from rag.rankers.readernet import (
    ReaderNet,
    best_span,
    build_net,
    default_dir,
    encode,
    load_reader,
    save_reader,
    token_targets,
)
from rag.training.pairs import (
    Located,
    Pair,
    build_pairs,
    candidate,
    lexical_neighbours,
    locate_questions,
    paragraph_sentences,
    question_texts,
)
from rag.training.squad import Article, load_squad

DEV_ARTICLES = 6  # of XQuAD's 24
# Languages whose XQuAD questions are asked of the Chinese paragraphs (and English and Chinese ones of
# the English paragraphs): English matters most, the others teach that the question's language varies.
CROSS_LANGUAGES = ("en", "zh", "de", "es", "ru", "vi")
# Choosing the "not covered" threshold: hiding a right answer is counted as costing twice as much as
# showing evidence for a question the documents do not answer, which is still shown as uncertain
# evidence a person can judge. The threshold minimises this cost on the dev set.
FALSE_DECLINE_COST = 2.0
FALSE_ANSWER_COST = 1.0


@dataclass(frozen=True)
class TrainConfig:
    datasets: Path
    out: Path
    layers: int = 6
    epochs: int = 1
    batch_size: int = 32
    lr: float = 8e-5
    head_lr: float = 1e-3
    max_pairs: int = 24_000
    dev_questions: int = 250
    seed: int = 13
    threads: int = 2


@dataclass(frozen=True)
class DevQuestion:
    question: str
    passages: tuple[Any, ...]  # Candidate, the first `own` of them from the question's own paragraph
    positive: int  # index of the sentence that holds the answer
    answer: tuple[int, int] | None
    answer_text: str
    outside: int  # passages[-outside:] come from other articles: the "not indexed" candidates


@dataclass(frozen=True)
class DevSet:
    name: str
    questions: tuple[DevQuestion, ...]


def load_data(
    cfg: TrainConfig, rng: random.Random, pairs: bool = True
) -> tuple[list[Pair], list[DevSet], dict[str, Any]]:
    root = cfg.datasets
    cmrc = load_squad(root / "cmrc2018" / "cmrc2018_dev.json")
    drcd = load_squad(root / "drcd" / "DRCD_dev.json")
    trial = load_squad(root / "cmrc2018" / "cmrc2018_trial.json")
    xquad = {lang: load_squad(root / "xquad-train" / f"xquad.{lang}.json") for lang in CROSS_LANGUAGES}
    cut = len(xquad["zh"]) - DEV_ARTICLES
    train: list[Pair] = []
    for articles in (cmrc, drcd) if pairs else ():
        train += build_pairs(articles, locate_questions(articles, paragraph_sentences(articles)), rng)
    for context_lang, asked in (("zh", CROSS_LANGUAGES), ("en", ("en", "zh"))) if pairs else ():
        contexts = xquad[context_lang][:cut]
        sentences = paragraph_sentences(contexts)
        for lang in asked:
            texts = question_texts(xquad[lang][:cut])
            train += build_pairs(contexts, locate_questions(contexts, sentences, texts), rng)
    rng.shuffle(train)
    train = train[: cfg.max_pairs]
    dev = [
        dev_set("en→zh", xquad["zh"][cut:], question_texts(xquad["en"][cut:]), cfg.dev_questions, rng),
        dev_set("zh→zh", xquad["zh"][cut:] + trial, None, cfg.dev_questions, rng),
    ]
    data = {
        "train": f"CMRC 2018 dev, DRCD dev, XQuAD articles 1-{cut} (questions in {', '.join(CROSS_LANGUAGES)} "
        "over Chinese paragraphs; English and Chinese over English paragraphs)",
        "dev": f"XQuAD articles {cut + 1}-24 (English and Chinese questions over Chinese paragraphs), CMRC 2018 trial",
        "pairs": len(train),
        "positives": sum(p.label for p in train),
    }
    return train, dev, data


def dev_set(name: str, contexts: list[Article], texts: dict[str, str] | None, limit: int, rng: random.Random) -> DevSet:
    """Each question with the sentences of its paragraph, its article's and other articles' sentences
    that share most words with it: the kind of candidates retrieval hands the reader."""
    sentences = paragraph_sentences(contexts)
    located = locate_questions(contexts, sentences, texts)
    located = rng.sample(located, min(limit, len(located)))
    pool = [
        (ai, pi, si, s.text)
        for ai, para_list in enumerate(sentences)
        for pi, para in enumerate(para_list)
        for si, s in enumerate(para)
    ]
    questions = []
    for q in located:
        own = [(q.article, q.paragraph, i) for i in range(len(sentences[q.article][q.paragraph]))]
        same = [r for r in pool if r[0] == q.article and r[1] != q.paragraph]
        other = [r for r in pool if r[0] != q.article]
        near = lexical_neighbours(q.native_question, same, 4)
        outside = lexical_neighbours(q.native_question, other, 8)
        rows = own + near + outside
        passages = tuple(candidate(contexts[a].title, sentences[a][p], s) for a, p, s in rows)
        answer_text = _answer_text(contexts, q)
        questions.append(DevQuestion(q.question, passages, q.sentence, q.answer, answer_text, len(outside)))
    return DevSet(name, tuple(questions))


def _answer_text(contexts: list[Article], q: Located) -> str:
    para = contexts[q.article].paragraphs[q.paragraph]
    sentences = paragraph_sentences([contexts[q.article]])[0][q.paragraph]
    s = sentences[q.sentence]
    return para.context[s.start : s.end][q.answer[0] : q.answer[1]] if q.answer else ""


def batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> Iterator[list[Pair]]:
    """Batches of pairs of similar length (less padding), in random order."""
    order = list(pairs)
    rng.shuffle(order)
    groups = [order[i : i + size * 50] for i in range(0, len(order), size * 50)]
    out = []
    for group in groups:
        group.sort(key=lambda p: len(p.question) + len(p.candidate.sentence) + len(p.candidate.before))
        out += [group[i : i + size] for i in range(0, len(group), size)]
    rng.shuffle(out)
    yield from out


def loss_of(net: ReaderNet, tokenizer: PreTrainedTokenizerBase, batch: list[Pair]) -> torch.Tensor:
    encoded = encode(tokenizer, [p.question for p in batch], [p.candidate for p in batch])
    relevance, spans = net(encoded)
    labels = torch.tensor([float(p.label) for p in batch])
    loss = nn.functional.binary_cross_entropy_with_logits(relevance, labels)
    starts, ends = token_targets(encoded, [p.answer if p.label else None for p in batch])
    if any(s >= 0 for s in starts):
        masked = spans.masked_fill(encoded.sentence_mask.unsqueeze(-1) == 0, -1e4)
        ce = nn.functional.cross_entropy
        span_loss = ce(masked[..., 0], torch.tensor(starts)) + ce(masked[..., 1], torch.tensor(ends))
        loss = loss + 0.5 * span_loss
    return loss


@torch.inference_mode()
def logits_for(
    net: ReaderNet, tokenizer: PreTrainedTokenizerBase, question: str, passages: Sequence[Any]
) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
    encoded = encode(tokenizer, [question] * len(passages), passages)
    relevance, spans = net(encoded)
    starts, ends, mask = spans[..., 0].numpy(), spans[..., 1].numpy(), encoded.sentence_mask.numpy()
    found = [best_span(starts[i], ends[i], mask[i], encoded.offsets[i]) for i in range(len(passages))]
    return relevance.numpy(), found


def evaluate(net: ReaderNet, tokenizer: PreTrainedTokenizerBase, dev: DevSet) -> dict[str, Any]:
    net.eval()
    top1, f1s, own_best, outside_best, near_miss, pos, neg = [], [], [], [], [], [], []
    for q in dev.questions:
        logits, spans = logits_for(net, tokenizer, q.question, q.passages)
        best = int(np.argmax(logits))
        top1.append(best == q.positive)
        span = spans[q.positive]
        predicted = q.passages[q.positive].sentence[span[0] : span[1]] if span else ""
        if q.answer_text:
            f1s.append(char_f1(predicted, q.answer_text))
        own_best.append(float(logits.max()))
        outside_best.append(float(logits[-q.outside :].max()))
        # The index without the answer's sentence: its paragraph's other sentences are near misses
        # (the sentence after it is left out too, since it is read with the answer as its context).
        rest = [x for i, x in enumerate(logits) if i not in (q.positive, q.positive + 1)]
        near_miss.append(float(max(rest)))
        pos.append(float(logits[q.positive]))
        neg += [float(x) for i, x in enumerate(logits) if i != q.positive]
    net.train()
    return {
        "name": dev.name,
        "questions": len(dev.questions),
        "top1": float(np.mean(top1)),
        "auc": auc(np.array(pos), np.array(neg)),
        "answer_f1": float(np.mean(f1s)) if f1s else 0.0,
        "covered_logits": own_best,
        "not_indexed_logits": outside_best,
        "near_miss_logits": near_miss,
        "pos": pos,
        "neg": neg,
    }


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def calibrate(pos: Sequence[float], neg: Sequence[float]) -> tuple[float, float]:
    """Platt scaling of the relevance logit (temperature and shift), by logistic regression."""
    x = np.array([*pos, *neg])
    y = np.array([1.0] * len(pos) + [0.0] * len(neg))
    w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    a, b = 1.0, 0.0
    for _ in range(2000):
        p = 1 / (1 + np.exp(-(a * x + b)))
        err = (p - y) * w
        a -= 0.05 * float((err * x).mean())
        b -= 0.05 * float(err.mean())
    return 1.0 / a, b


def choose_threshold(covered: Sequence[float], not_covered: Sequence[float]) -> tuple[float, dict[str, float]]:
    """The probability threshold that minimises the stated cost over the dev questions."""
    cov, unc = np.array(covered), np.array(not_covered)
    best_t, best_cost = 0.5, math.inf
    for t in np.linspace(0.01, 0.99, 99):
        cost = FALSE_DECLINE_COST * (cov < t).mean() + FALSE_ANSWER_COST * (unc >= t).mean()
        if cost < best_cost - 1e-12:
            best_t, best_cost = float(t), float(cost)
    return best_t, {
        "answerable_declined": float((cov < best_t).mean()),
        "unanswerable_declined": float((unc < best_t).mean()),
    }


def train(cfg: TrainConfig) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    settings = Settings.from_env()
    model_dir = Path(resolve_model_path(settings))
    pairs, dev, data = load_data(cfg, rng)
    print(
        f"{data['pairs']} training pairs ({data['positives']} positive); dev: "
        + ", ".join(f"{d.name} {len(d.questions)} questions" for d in dev),
        flush=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    net = build_net(model_dir, cfg.layers)
    for p in net.encoder.embeddings.parameters():
        p.requires_grad = False
    groups = [
        {"params": list(net.encoder.encoder.parameters()), "lr": cfg.lr},
        {"params": [*net.relevance.parameters(), *net.span.parameters()], "lr": cfg.head_lr},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = cfg.epochs * math.ceil(len(pairs) / cfg.batch_size)
    warmup = max(1, steps // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    net.train()
    step, started, history = 0, time.perf_counter(), []
    best: dict[str, Any] | None = None
    for epoch in range(1, cfg.epochs + 1):
        running = 0.0
        for batch in batches(pairs, cfg.batch_size, rng):
            loss = loss_of(net, tokenizer, batch)
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if step % 25 == 0 or step == steps:
                elapsed = time.perf_counter() - started
                eta = elapsed / step * (steps - step)
                print(
                    f"epoch {epoch} step {step}/{steps} loss {running:.3f} "
                    f"{elapsed / step:.2f} s/step, {eta / 60:.0f} min left",
                    flush=True,
                )
        figures = [evaluate(net, tokenizer, d) for d in dev]
        score = float(np.mean([f["top1"] + f["auc"] for f in figures]))
        history.append({"epoch": epoch, **{f["name"]: _public(f) for f in figures}})
        print(f"epoch {epoch} dev: " + "; ".join(_line(f) for f in figures), flush=True)
        if best is None or score > best["score"]:
            best = {"score": score, "figures": figures, "state": {k: v.clone() for k, v in net.state_dict().items()}}
    assert best is not None
    net.load_state_dict(best["state"])
    figures = best["figures"]
    manifest = {
        "base_model": DEFAULT_MODEL,
        "layers": cfg.layers,
        "pooling": net.pooling,
        "data": data,
        "seed": cfg.seed,
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("datasets", "out")},
        "code_version": _git_version(),
        "cost": {"false_decline": FALSE_DECLINE_COST, "false_answer": FALSE_ANSWER_COST},
        "history": history,
        "train_minutes": round((time.perf_counter() - started) / 60, 1),
        **calibration(figures),
    }
    save_reader(net, manifest, cfg.out)
    print(f"{_decisions(manifest)}; saved to {cfg.out}", flush=True)
    return manifest


def calibration(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """Platt scaling over every dev pair, then the threshold that minimises the stated cost, with the
    questions whose article is not indexed and those whose answer sentence is not as the negatives."""
    temperature, shift = calibrate([x for f in figures for x in f["pos"]], [x for f in figures for x in f["neg"]])

    def probabilities(key: str) -> list[float]:
        return [1 / (1 + math.exp(-(x / temperature + shift))) for f in figures for x in f[key]]

    covered = probabilities("covered_logits")
    not_indexed, near_miss = probabilities("not_indexed_logits"), probabilities("near_miss_logits")
    threshold, rates = choose_threshold(covered, not_indexed + near_miss)
    rates["not_indexed_declined"] = float(np.mean([p < threshold for p in not_indexed]))
    rates["near_miss_declined"] = float(np.mean([p < threshold for p in near_miss]))
    return {
        "calibration": {"temperature": temperature, "shift": shift, "threshold": threshold},
        "dev": {f["name"]: _public(f) for f in figures},
        "dev_decisions": {k: round(v, 4) for k, v in rates.items()},
    }


def recalibrate(cfg: TrainConfig) -> dict[str, Any]:
    """Measure the reader in ``cfg.out`` on the dev set again and rewrite its calibration."""
    torch.set_num_threads(cfg.threads)
    settings = Settings.from_env()
    reader = load_reader(Path(resolve_model_path(settings)), settings.embedding_model, cfg.out)
    _, dev, _ = load_data(cfg, random.Random(cfg.seed), pairs=False)
    figures = [evaluate(reader.net, reader.tokenizer, d) for d in dev]
    print("dev: " + "; ".join(_line(f) for f in figures), flush=True)
    manifest = {**reader.manifest, **calibration(figures), "code_version": _git_version()}
    save_reader(reader.net, manifest, cfg.out)
    print(f"{_decisions(manifest)}; saved to {cfg.out}", flush=True)
    return manifest


def _decisions(manifest: dict[str, Any]) -> str:
    rates = manifest["dev_decisions"]
    return (
        f"threshold {manifest['calibration']['threshold']:.2f}: dev answerable declined "
        f"{rates['answerable_declined']:.3f}, not-indexed declined {rates['not_indexed_declined']:.3f}, "
        f"near misses declined {rates['near_miss_declined']:.3f}"
    )


def _public(f: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in f.items() if not isinstance(v, list)}


def _line(f: dict[str, Any]) -> str:
    return f"{f['name']} top-1 {f['top1']:.3f} AUC {f['auc']:.3f} answer F1 {f['answer_f1']:.3f}"


def _git_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=default_dir())
    parser.add_argument("--calibrate-only", action="store_true", help="re-measure and recalibrate the reader in --out")
    defaults = TrainConfig(Path(), Path())
    for name in ("layers", "epochs", "batch_size", "max_pairs", "dev_questions", "seed", "threads"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "head_lr"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    if not (args.datasets / "cmrc2018").is_dir():
        print(f"no data sets in {args.datasets}: pass --datasets DIR", file=sys.stderr)
        return 2
    recalibrate_only = args.__dict__.pop("calibrate_only")
    cfg = TrainConfig(**vars(args))
    recalibrate(cfg) if recalibrate_only else train(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
