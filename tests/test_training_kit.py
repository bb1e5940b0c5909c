"""A packed training: on a CPU it trains the weights `make reader` trains, and it comes back as a reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from rag.errors import ModelError
from rag.rankers.readernet import build_net, load_weights
from rag.rankers.reading import MANIFEST, WEIGHTS, read_manifest
from rag.training import kit, train

FACTS = [
    (
        "梁文峰创立了深度求索。公司位于杭州。它在{year}年发布了模型。",
        "Who founded DeepSeek?",
        "谁创立了深度求索？",
        "梁文峰",
    ),
    (
        "月之暗面在北京。它的创始人是杨植麟。它在{year}年发布了产品。",
        "Who founded Moonshot?",
        "谁创立了月之暗面？",
        "杨植麟",
    ),
]
LANGUAGES = ("en", "zh", "de", "es", "ru", "vi")


def _squad(path: Path, articles: int, language: str = "zh") -> None:
    data = []
    for n in range(articles):
        context, english, chinese, answer = FACTS[n % 2]
        context = context.format(year=2000 + n)
        question = chinese if language == "zh" else english
        qa = {"id": f"q{n}", "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}
        data.append({"title": f"文章{n}", "paragraphs": [{"context": context, "qas": [qa]}]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1", "data": data}, ensure_ascii=False), "utf-8")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    _squad(root / "cmrc2018" / "cmrc2018_dev.json", 4)
    _squad(root / "cmrc2018" / "cmrc2018_trial.json", 3)
    _squad(root / "drcd" / "DRCD_dev.json", 2)
    for language in LANGUAGES:
        _squad(root / "xquad-train" / f"xquad.{language}.json", 8, language)
    return root


@pytest.fixture(scope="module")
def made(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reader `make reader` trains on those data sets: one layer, one epoch."""
    out = tmp_path_factory.mktemp("reader")
    train.train(train.TrainConfig(datasets, out, layers=1, batch_size=4))
    return out


@pytest.fixture(scope="module")
def packed(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.pack(datasets, tmp_path_factory.mktemp("kit"), 1, 1, 24_000, 13, 4)


def test_the_kit_holds_one_layer_and_the_rows_its_pairs_use(packed: Path) -> None:
    manifest = kit.read_kit(packed)
    stored = load_file(str(packed / kit.WEIGHTS))
    assert {n.split(".")[0] for n in stored if not n.startswith("emb.")} == {"l0"}
    assert len(stored[kit.ROWS]) == manifest["rows"] < 1000  # of the word table's 250,002
    assert manifest["config"]["layers"] == 1 and manifest["data"]["pairs"] == len(kit.pairs_of(packed))


def test_the_rebuilt_model_reads_as_the_provisioned_one(packed: Path, tmp_path: Path) -> None:
    from rag.config import Settings
    from rag.embedding import resolve_model_path

    rebuilt = load_file(str(kit.rebuild_model(packed, tmp_path / "model") / "model.safetensors"))
    provisioned = load_file(str(Path(resolve_model_path(Settings.from_env())) / "model.safetensors"))
    rows = load_file(str(packed / kit.WEIGHTS))[kit.ROWS]
    words = "embeddings.word_embeddings.weight"
    assert (rebuilt[words][rows] == provisioned[words][rows]).all()
    assert not rebuilt[words][4:].any(axis=1).all()  # the rows no pair uses are zeros
    for name, values in rebuilt.items():
        if name != words:
            assert (values == provisioned[name]).all(), name


@pytest.fixture(scope="module")
def run(packed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    kit.train(packed, out, device="cpu")
    return out


def test_training_the_kit_on_a_cpu_gives_make_readers_weights(run: Path, made: Path, tmp_path: Path) -> None:
    written = json.loads((run / kit.RUN).read_text("utf-8"))
    assert written["device"] == "cpu" and written["parts"] == ["epoch-1.part-0"]
    weights = kit.joined(run, "epoch-1", tmp_path / "joined.safetensors")
    assert weights.read_bytes() == (made / WEIGHTS).read_bytes()


def test_weights_come_back_in_parts_under_the_limit(
    packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = build_net(kit.rebuild_model(packed, tmp_path / "model"), 1)
    monkeypatch.setattr(kit, "PART_BYTES", 2**20)
    parts = [tmp_path / p for p in kit.write_parts(net, tmp_path, "epoch-1")]
    assert len(parts) > 1 and all(p.stat().st_size <= 2**20 for p in parts)
    whole = kit.joined(tmp_path, "epoch-1", tmp_path / "joined.safetensors")
    assert whole.stat().st_size == sum(p.stat().st_size for p in parts)
    assert set(load_weights(whole)) == set(net.trained_state())


def test_finish_saves_a_calibrated_reader_naming_the_run(
    packed: Path, run: Path, made: Path, datasets: Path, tmp_path: Path
) -> None:
    kit.finish(packed, run, datasets, tmp_path / "reader")
    manifest = read_manifest(tmp_path / "reader")
    assert manifest["kit"]["device"] == "cpu" and manifest["layers"] == 1
    assert manifest["history"] == json.loads((made / MANIFEST).read_text("utf-8"))["history"]
    assert "threshold" in manifest["calibration"]


def test_a_folder_that_is_no_run_is_one_line_error(
    packed: Path, datasets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["finish", "--kit", str(packed), "--run", str(tmp_path), "--datasets", str(datasets), "--out", str(tmp_path)]
    assert kit.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path} holds no finished run (run.json: ") and err.count("\n") == 1
    with pytest.raises(ModelError, match=r"no epoch-1\.part-\* in"):
        kit.joined(tmp_path, "epoch-1", tmp_path / "joined.safetensors")
