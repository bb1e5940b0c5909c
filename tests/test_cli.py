"""The command line, run in-process with click's CliRunner; the hash embedder stands in for the model."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from embedders import CORPUS, BigramReader, HashEmbedder, open_local, sample_headwords, write_corpus

from api.schemas import AskResponse
from rag import embedding, pipeline
from rag.cli import main
from rag.config import Settings
from rag.coverage import FEATURES, CoverageModel, default_model
from rag.pipeline import Pipeline
from rag.rankers import reader
from rag.serialize import answer_to_dict
from rag.text import crosslingual

QUESTION = "Which pandas eat bamboo?"
# The JSON of an answer is exactly the HTTP contract.
ANSWER_KEYS = set(AskResponse.model_fields)
NOT_COVERED = "The documents do not cover this question. The closest passages:"


def _constant(bias: float) -> CoverageModel:
    n = len(FEATURES)
    return CoverageModel(weights=(0.0,) * n, bias=bias, mean=(0.0,) * n, scale=(1.0,) * n)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """RAG_* pointing into tmp_path, and every model loader answering with the hash embedder."""
    monkeypatch.setenv("RAG_SEEDS_DIR", str(write_corpus(tmp_path / "seeds")))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", HashEmbedder().name)
    monkeypatch.setenv("RAG_CHUNK_SIZE", "100")
    monkeypatch.setenv("RAG_READER", "off")  # the default path; the reader's is tested with a fake below
    monkeypatch.setenv("RAG_VERIFIER", "off")  # the retrieval signals alone; the verifier's is tested below
    monkeypatch.setattr(embedding, "load_embedder", lambda settings: HashEmbedder())
    monkeypatch.setattr(pipeline, "load_embedder", lambda settings: HashEmbedder())
    monkeypatch.setattr(crosslingual, "default_headwords", sample_headwords)
    # The shipped calibration, though it was fitted for e5 and these indexes are the hash embedder's.
    monkeypatch.setattr(pipeline, "coverage_for", lambda settings: default_model())
    return Settings.from_env()


@pytest.fixture
def indexed(settings: Settings) -> Settings:
    assert rag("index").exit_code == 0
    return settings


def current_build(index_dir: Path) -> str:
    return (index_dir / "current").readlink().name


def rag(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert type(result.exception) is SystemExit  # an error message, not a traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert all(w in lines[0] for w in words), lines[0]
    assert result.stdout == ""


# --- rag index ---------------------------------------------------------------------------------


def test_index_builds_and_counts(settings: Settings) -> None:
    result = rag("index")
    assert result.exit_code == 0, result.output
    assert re.match(rf"{len(CORPUS)} documents, 11 chunks, 0 skipped in \d+\.\ds -> ", result.stdout)
    assert "building the index (no index in" in result.stderr
    assert (settings.index_dir / "current" / "manifest.json").is_file()


def test_index_notes_skipped_files(settings: Settings) -> None:
    (settings.seeds_dir / "empty.txt").write_text("", "utf-8")
    result = rag("index")
    assert result.stdout.startswith(f"{len(CORPUS)} documents, 11 chunks, 1 skipped")
    assert "empty.txt: empty file" in result.stderr


def test_index_notes_each_skipped_file_once(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # As `rag index` runs outside pytest: no handler on the root logger, so warnings go to stderr as they are.
    monkeypatch.setattr(logging.root, "handlers", [])
    (settings.seeds_dir / "empty.txt").write_text("", "utf-8")
    result = rag("index")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("empty.txt: empty file") == 1, result.stderr


def test_index_twice_says_it_is_up_to_date(indexed: Settings) -> None:
    link = current_build(indexed.index_dir)
    result = rag("index")
    assert result.exit_code == 0
    assert result.stdout == f"index is up to date: {len(CORPUS)} documents, 11 chunks\n"
    assert current_build(indexed.index_dir) == link


def test_index_rebuild_builds_again(indexed: Settings) -> None:
    link = current_build(indexed.index_dir)
    result = rag("index", "--rebuild")
    assert result.exit_code == 0, result.output
    assert "rebuild requested" in result.stderr and result.stdout.startswith(f"{len(CORPUS)} documents")
    assert current_build(indexed.index_dir) != link


def test_index_rebuilds_when_a_document_changes(indexed: Settings) -> None:
    (indexed.seeds_dir / "extra.txt").write_text("Red pandas eat bamboo and fruit.", "utf-8")
    result = rag("index")
    assert "documents changed" in result.stderr
    assert result.stdout.startswith(f"{len(CORPUS) + 1} documents")
    assert f"1 added, 0 changed, 0 removed, {len(CORPUS)} unchanged; embedded 1 passages and 1 sentences" in (
        result.stderr
    )


def test_index_rebuild_embeds_everything_again(indexed: Settings) -> None:
    result = rag("index", "--rebuild")
    assert "embedded 11 passages" in result.stderr and "reused 0 vectors" in result.stderr


def test_index_into_the_embedded_qdrant_engine(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_STORE", "qdrant")
    result = rag("index")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"-> Qdrant (embedded in {settings.index_dir / 'qdrant'}), collections rag_*")
    assert rag("index").stdout == f"index is up to date: {len(CORPUS)} documents, 11 chunks\n"
    assert rag("search", "bamboo").exit_code == 0


def test_moving_the_index_to_qdrant_embeds_nothing(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_STORE", "qdrant")
    to_qdrant = rag("index")
    assert "from the index in the other store" in to_qdrant.stderr
    assert "embedded 0 passages and 0 sentences" in to_qdrant.stderr
    assert rag("ask", "What do pandas eat?").exit_code == 0


def test_index_of_named_paths(settings: Settings) -> None:
    result = rag("index", str(settings.seeds_dir / "zoo.html"), str(settings.seeds_dir / "tea_zh.txt"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 documents")


def test_index_of_a_missing_path_is_one_line_error(settings: Settings) -> None:
    assert_one_line_error(rag("index", "/nonexistent"), 1, "/nonexistent", "does not exist")
    assert not (settings.index_dir / "current").exists()


def test_index_of_an_empty_folder_is_one_line_error(indexed: Settings, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = rag("index", str(tmp_path / "empty"))
    assert result.exit_code == 1 and type(result.exception) is SystemExit
    assert result.stderr.splitlines()[-1].startswith("error: nothing to index")
    assert "index left as it was" in result.stderr
    assert len(open_local(indexed).documents.documents) == len(CORPUS)


# --- rag serve ---------------------------------------------------------------------------------


def test_serve_update_index_builds_before_serving(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: list[bool] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append((settings.index_dir / "current").exists()))
    result = rag("serve", "--update-index", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert served == [True]
    assert "building the index" in result.stderr


def test_serve_update_index_leaves_an_up_to_date_index(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    before = current_build(indexed.index_dir)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    result = rag("serve", "--update-index")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("index is up to date")
    assert current_build(indexed.index_dir) == before


def test_serve_update_index_of_a_broken_folder_is_one_line_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    monkeypatch.setenv("RAG_SEEDS_DIR", str(tmp_path / "nowhere"))
    assert_one_line_error(rag("serve", "--update-index"), 1, "nowhere", "does not exist")
    assert served == []


# --- rag docs ----------------------------------------------------------------------------------


def test_docs_lists_ids_and_titles(indexed: Settings) -> None:
    result = rag("docs")
    assert result.exit_code == 0
    for doc_id, title in [
        ("panda_en", "Giant pandas, explained"),
        ("zoo", "City Zoo visitor guide"),
        ("panda_zh", "panda_zh"),
        ("tea_zh", "tea_zh"),
    ]:
        assert re.search(rf"^{doc_id}  ", result.stdout, re.MULTILINE)
        assert f"    {title}\n" in result.stdout
    assert "Jane Doe | https://example.com/pandas" in result.stdout


def test_docs_json_lists_summaries(indexed: Settings) -> None:
    rows = json.loads(rag("docs", "--json").stdout)
    assert [r["source_file"] for r in rows] == sorted(CORPUS)
    assert all("text" not in r for r in rows)


def test_docs_prints_one_documents_clean_text(indexed: Settings) -> None:
    text = open_local(indexed).documents.documents["zoo"].text
    result = rag("docs", "zoo")
    assert result.exit_code == 0 and result.stdout == text + "\n"
    assert "<p>" not in result.stdout and "Copyright" not in result.stdout
    assert json.loads(rag("docs", "zoo", "--json").stdout)["text"] == text


def test_docs_of_an_unknown_id_is_one_line_error(indexed: Settings) -> None:
    assert_one_line_error(rag("docs", "nope"), 1, "'nope'", "rag docs")


def test_docs_without_an_index_is_one_line_error(settings: Settings) -> None:
    assert_one_line_error(rag("docs"), 1, "no index", "rag index")


# --- rag ask -----------------------------------------------------------------------------------


def test_ask_json_is_the_api_shape(indexed: Settings) -> None:
    result = rag("ask", QUESTION, "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed.keys() == ANSWER_KEYS
    qa = Pipeline.from_settings(indexed)
    expected = answer_to_dict(qa.ask(QUESTION), qa.store.documents.documents)
    assert {k: v for k, v in printed.items() if k != "timings_ms"} == {
        k: v for k, v in expected.items() if k != "timings_ms"
    }
    assert printed["timings_ms"].keys() == expected["timings_ms"].keys()


def test_ask_json_top_k_sets_the_passages(indexed: Settings) -> None:
    assert len(json.loads(rag("ask", QUESTION, "--json", "--top-k", "2").stdout)["passages"]) == 2


UNCERTAIN = "These sources may not answer the question:"
SOURCE_LINE = re.compile(r"\d+\. (.+) \((\S+)\) (\S+)")
QUOTE_LINE = re.compile(r"   \u201c(.+)\u201d(?:  \[answer: (.+?)\])? \[(\d+):(\d+)\]")


def _quotes(stdout: str) -> list[tuple[str, str, str | None, int, int]]:
    """(where the source is, quote, short answer, start, end) for each quote of the grouped view."""
    quotes, where = [], ""
    for line in stdout.splitlines():
        if source := SOURCE_LINE.fullmatch(line):
            where = source[3]
        elif quote := QUOTE_LINE.fullmatch(line):
            quotes.append((where, quote[1], quote[2], int(quote[3]), int(quote[4])))
        else:
            assert line.startswith(("   \u2026", "confidence ", UNCERTAIN)) or line.endswith("\u2026"), line
    return quotes


def test_ask_groups_quotes_by_source_with_checkable_citations(
    indexed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "coverage_for", lambda settings: _constant(30.0))
    result = rag("ask", QUESTION)
    assert result.exit_code == 0, result.output
    # The source line names the document by its url, or by its file when it has none.
    documents = {d.url or d.source_file: d for d in open_local(indexed).documents.documents.values()}
    quotes = _quotes(result.stdout)
    assert quotes
    for where, text, _, start, end in quotes:
        assert documents[where].text[start:end] == text
    assert "1. Giant pandas, explained (2024-05-01) https://example.com/pandas" in result.stdout
    assert "City Zoo visitor guide (undated) zoo.html" in result.stdout


def test_ask_with_a_reader_prints_its_confidence_and_short_answers(
    indexed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_READER", "on")
    monkeypatch.setattr(pipeline, "reader_for", lambda settings, embedder=None: BigramReader())
    result = rag("ask", QUESTION)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"confidence 0\.\d\d", lines[0]), lines[0]
    _, text, short, _, _ = _quotes(result.stdout)[0]
    assert short and text.startswith(short)  # the fake's short answer is the first word


def test_ask_labels_evidence_that_may_not_answer(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    model = dataclasses.replace(_constant(0.0), threshold=0.9, uncertain=0.1)  # probability 0.5: uncertain
    monkeypatch.setattr(pipeline, "coverage_for", lambda settings: model)
    result = rag("ask", QUESTION)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == UNCERTAIN
    assert _quotes(result.stdout)


def test_ask_says_when_the_documents_do_not_cover_it(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "coverage_for", lambda settings: _constant(-30.0))
    result = rag("ask", "明天北京天气怎么样？")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == NOT_COVERED
    assert len(lines) == 1 + 5 and all(line.startswith("  - ") for line in lines[1:])


def test_ask_an_empty_question_is_one_line_error(indexed: Settings) -> None:
    assert_one_line_error(rag("ask", "   "), 1, "empty")


def test_ask_a_too_long_question_is_one_line_error(indexed: Settings) -> None:
    assert_one_line_error(rag("ask", "x" * 1001), 1, "1001", "1000")


def test_ask_on_a_stale_index_says_how_to_rebuild(indexed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CHUNK_SIZE", "200")
    assert_one_line_error(rag("ask", QUESTION), 1, "stale", "rag index")


# --- rag search --------------------------------------------------------------------------------


def test_search_prints_ranked_passages(indexed: Settings) -> None:
    result = rag("search", QUESTION)
    assert result.exit_code == 0, result.output
    line = r"^(\d+)\. (\S+)  fused \d\.\d{4}  dense (\S+)  sentence (\S+)  keyword (\S+)$"
    heads = re.findall(line, result.stdout, re.MULTILINE)
    assert [int(rank) for rank, *_ in heads] == [1, 2, 3, 4, 5]
    assert all(re.fullmatch(r"-?\d\.\d{3}#\d+", dense) for _, _, dense, _, _ in heads)
    assert {chunk_id.split("#")[0] for _, chunk_id, *_ in heads} >= {"panda_en", "zoo"}


def test_search_top_k_and_json(indexed: Settings) -> None:
    printed = json.loads(rag("search", QUESTION, "--top-k", "3", "--json").stdout)
    assert printed["query"] == QUESTION and len(printed["passages"]) == 3


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["index"], id="index"),
        pytest.param(["docs"], id="docs"),
        pytest.param(["ask", QUESTION], id="ask"),
        pytest.param(["search", QUESTION], id="search"),
        pytest.param(["eval", "--no-ablation"], id="eval"),
        pytest.param(["model"], id="model"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("RAG_PORT", "eighty")
    assert_one_line_error(rag(*args), 2, "'RAG_PORT'", "'eighty'")


# --- rag eval ----------------------------------------------------------------------------------


def test_the_squad_table_prints_the_figures_and_leaves_the_rows_to_the_json() -> None:
    from rag.cli import _squad_table

    table = _squad_table({"questions": 2, "hit@5": 1.0, "per_question": [{"question": "龙井茶产于哪里？"}]})
    assert table.splitlines() == ["questions  2", "    hit@5  1.0"]


def test_eval_writes_the_report(indexed: Settings, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "id": "t1",
            "question": QUESTION,
            "lang": "en",
            "type": "fact",
            "answerable": True,
            "evidence": [{"file": "zoo.html", "quote": "The two giant pandas at the zoo eat fresh bamboo"}],
        },
        {"id": "t2", "question": "明天北京天气怎么样？", "lang": "zh", "type": "unanswerable", "answerable": False},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    output = tmp_path / "reports" / "eval.json"
    result = rag("eval", "--questions", str(questions), "--no-ablation", "--json", "--output", str(output))
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text("utf-8"))
    assert json.loads(result.stdout) == report
    assert (report["model"], report["top_k"], report["questions_file"]) == (indexed.embedding_model, 5, str(questions))
    assert list(report["variants"]) == ["fused"]
    fused = report["variants"]["fused"]
    assert (fused["overall"]["questions"], fused["overall"]["answerable"]) == (2, 1)
    assert [row["id"] for row in fused["per_question"]] == ["t1", "t2"]
    assert fused["per_question"][0]["first_relevant_rank"] is not None
    assert fused["unlocated_quotes"] == []
    assert fused["overall"]["citation_integrity"] == 1.0


def test_eval_of_several_sets_prints_one_row_each_and_writes_every_report(indexed: Settings, tmp_path: Path) -> None:
    answerable = {
        "id": "a1",
        "question": QUESTION,
        "lang": "en",
        "type": "fact",
        "answerable": True,
        "evidence": [{"file": "zoo.html", "quote": "The two giant pandas at the zoo eat fresh bamboo"}],
    }
    unanswerable = {
        "id": "u1",
        "question": "明天北京天气怎么样？",
        "lang": "zh",
        "type": "unanswerable",
        "answerable": False,
    }
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(json.dumps(answerable) + "\n", "utf-8")
    second.write_text(json.dumps(unanswerable, ensure_ascii=False) + "\n", "utf-8")
    output = tmp_path / "sets.json"
    sets = ["--questions", str(first), "--questions", str(second)]
    result = rag("eval", *sets, "--no-ablation", "--output", str(output))
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text("utf-8"))
    assert list(report["sets"]) == [str(first), str(second)]
    assert report["sets"][str(first)]["variants"]["fused"]["overall"]["answerable"] == 1
    assert report["sets"][str(second)]["variants"]["fused"]["overall"]["unanswerable"] == 1
    rows = [line.split()[0] for line in result.output.splitlines() if line.startswith(("first", "second"))]
    assert rows == ["first", "second"]


# --- rag model ---------------------------------------------------------------------------------


class _Described(HashEmbedder):
    def info(self) -> embedding.ModelInfo:
        return embedding.ModelInfo(self.name, "/models/hash", self.dimension, 512, {})


@pytest.mark.parametrize("switch", ["on", "off"])
@pytest.mark.parametrize("model", ["reader", "verifier"])
def test_model_names_the_reader_and_the_verifier_when_they_are_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, model: str, switch: str
) -> None:
    """With RAG_READER=on (RAG_VERIFIER=on), `rag model` loads the reader (the verifier) too, exporting it on onnx,
    and says where it is."""
    monkeypatch.setenv(f"RAG_{model.upper()}", switch)
    monkeypatch.setattr(embedding, "load_embedder", lambda settings: _Described())
    fake = BigramReader()
    monkeypatch.setattr(
        reader, f"{model}_for", lambda settings, embedder=None: fake if getattr(settings, model) else None
    )
    shown = rag("model")
    assert shown.exit_code == 0, shown.output
    assert (f"{model + ':':<17}bigrams" in shown.stdout.splitlines()) == (switch == "on")
    assert json.loads(rag("model", "--json").stdout)[model] == ("bigrams" if switch == "on" else None)


def test_the_verifier_is_refused_for_another_embedding_model_saying_how_to_serve_without_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_VERIFIER", "on")
    monkeypatch.setattr(embedding, "load_embedder", lambda settings: _Described())
    shown = rag("model")
    assert shown.exit_code != 0 and "Traceback" not in shown.output
    assert "RAG_VERIFIER=off" in shown.output and "test/hash-bigrams" in shown.output
