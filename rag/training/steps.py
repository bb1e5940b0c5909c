"""The reader's training steps: pairs in batches, the loss, and the optimiser's epochs.

Apart from the data sets' reading (``pairs``) and the dev figures (``calibrate``), so that this part runs where
only torch and transformers are installed: a lent GPU machine given a packed training (``kit``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from rag.rankers.readernet import ReaderNet, encode, token_targets
from rag.types import Candidate


@dataclass(frozen=True)
class Pair:
    question: str
    candidate: Candidate
    label: int
    answer: tuple[int, int] | None = None  # the short answer's offsets inside candidate.sentence


@dataclass(frozen=True)
class Optimisation:
    epochs: int
    batch_size: int
    lr: float  # the transformer layers'
    head_lr: float  # the relevance and span heads'


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


def loss_of(
    net: ReaderNet, tokenizer: PreTrainedTokenizerBase, batch: list[Pair], device: torch.device | None = None
) -> torch.Tensor:
    """Binary cross-entropy of relevance, plus half the start/end cross-entropy of the positives' answers."""
    device = device or torch.device("cpu")
    encoded = encode(tokenizer, [p.question for p in batch], [p.candidate for p in batch])
    on_device = replace(
        encoded,
        input_ids=encoded.input_ids.to(device),
        attention_mask=encoded.attention_mask.to(device),
        sentence_mask=encoded.sentence_mask.to(device),
    )
    relevance, spans = net(on_device)
    labels = torch.tensor([float(p.label) for p in batch], device=device)
    loss = nn.functional.binary_cross_entropy_with_logits(relevance, labels)
    starts, ends = token_targets(encoded, [p.answer if p.label else None for p in batch])
    if any(s >= 0 for s in starts):
        masked = spans.masked_fill(on_device.sentence_mask.unsqueeze(-1) == 0, -1e4)
        ce = nn.functional.cross_entropy
        targets = torch.tensor(starts, device=device), torch.tensor(ends, device=device)
        loss = loss + 0.5 * (ce(masked[..., 0], targets[0]) + ce(masked[..., 1], targets[1]))
    return loss


def epochs(
    net: ReaderNet,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    how: Optimisation,
    rng: random.Random,
    device: torch.device | None = None,
) -> Iterator[int]:
    """Train ``net`` (AdamW, warm-up then linear decay, the embeddings frozen), yielding each epoch's number once it
    is done, with the net in eval mode until the next one starts. Prints its progress."""
    device = device or torch.device("cpu")
    for p in net.encoder.embeddings.parameters():
        p.requires_grad = False
    groups = [
        {"params": list(net.encoder.encoder.parameters()), "lr": how.lr},
        {"params": [*net.relevance.parameters(), *net.span.parameters()], "lr": how.head_lr},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    steps = how.epochs * math.ceil(len(pairs) / how.batch_size)
    warmup = max(1, steps // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    net.train()
    step, started = 0, time.perf_counter()
    for epoch in range(1, how.epochs + 1):
        running = 0.0
        for batch in batches(pairs, how.batch_size, rng):
            loss = loss_of(net, tokenizer, batch, device)
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
        net.eval()
        yield epoch
        net.train()
