from __future__ import annotations

import functools
import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.text import crosslingual
from rag.text.crosslingual import (
    Dictionary,
    across_cuts,
    build_dictionary,
    build_sounds,
    by_skeleton,
    correct_spelling,
    english_skeleton,
    expand,
    glosses,
    pinyin_skeleton,
    read_aloud,
    read_headwords,
    spelt_as_corpus,
    stem,
    transliterations,
    with_transliterations,
)
from rag.text.scripts import HAN_RUN
from rag.text.segmenter import Segmenter
from rag.text.tokenize import segment, tokenize

LINES = [
    "熊貓 熊猫 [xiong2 mao1] /panda/CL:隻|只[zhi1]/",
    "創新 创新 [chuang4 xin1] /to bring forth new ideas/innovation/",
    "白宮 白宫 [Bai2 gong1] /White House/",
    "特朗普 特朗普 [Te4 lang3 pu3] /Donald Trump (1946-), American business magnate/",
    "技術 技术 [ji4 shu4] /technology/technique/",
    "聯合技術公司 联合技术公司 [Lian2 he2 Ji4 shu4 Gong1 si1] /United Technologies Corporation/",
    "竹子 竹子 [zhu2 zi5] /bamboo/",
    "跑 跑 [pao3] /to run/",
    "長 长 [chang2] /long/",
]
CORPUS = (
    "白宫顾问说，特朗普宣布了新计划。梁文峰的公司靠技术创新。熊猫吃竹子。模型蒸馏是常见的技术。"
    "刘润说大家都在跑。屠龙之术这期节目时间长。这就是著名的杰文斯悖论。"
)


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    vocabulary = set(tokenize(CORPUS))
    built = build_dictionary(vocabulary, LINES)
    return Dictionary(built.table, built.english, build_sounds([CORPUS]))


@pytest.fixture(scope="module")
def vocabulary() -> frozenset[str]:
    return frozenset(tokenize(CORPUS))


def test_one_and_two_word_glosses_are_read() -> None:
    assert list(glosses("White House/the Oval Office/a long phrase of many words/")) == [
        (0, "white house"),
        (1, "oval office"),
    ]
    assert (1, "innovation") in list(glosses("to bring forth new ideas/innovation/"))


def test_a_sense_the_dictionary_marks_as_dated_gives_no_gloss() -> None:
    """云 "(classical) to say" made "say" match 云服务 (cloud services)."""
    assert list(glosses("(classical) to say/")) == []
    assert [g for _, g in glosses("road/(old) circuit (administrative division)/to say/")] == ["road", "say"]
    lines = ["云 云 [yun2] /(classical) to say/", "講 讲 [jiang3] /to speak/to say/", "雲 云 [yun2] /cloud/"]
    table = build_dictionary({"云", "服务", "讲"}, lines).table
    assert table["say"] == [["讲"]] and table["cloud"] == [["云"]]
    assert build_dictionary({"云", "服务"}, lines).table.get("say") is None  # no modern word for it: untranslated


def test_a_corpus_in_traditional_script_gets_its_own_words() -> None:
    traditional = set(tokenize("熊貓吃竹子。白宮顧問說，技術創新很重要。"))
    table = build_dictionary(traditional, LINES).table
    assert table["panda"] == [tokenize("熊貓")] and table["innovation"] == [tokenize("創新")]
    assert table["white house"] == [tokenize("白宮")]
    both = build_dictionary(traditional | set(tokenize(CORPUS)), LINES).table
    assert both["panda"] == [tokenize("熊猫"), tokenize("熊貓")]  # the simplified form first
    assert build_dictionary(set(tokenize(CORPUS)), LINES).table["panda"] == [tokenize("熊猫")]


def test_a_traditional_headword_counts_only_where_the_corpus_has_its_characters() -> None:
    """誰 is a question word, no term: 誰知 tokenises as 知 alone, which a corpus in simplified script has too."""
    lines = ["誰知 孰知 [shu2 zhi1] /surprisingly/"]
    assert tokenize("誰知") == ["知"]
    assert build_dictionary({"知"}, lines).table.get("surprisingly") is None
    assert build_dictionary({"知", "誰人"}, lines).table["surprisingly"] == [["知"]]


def test_a_sense_the_dictionary_marks_as_slang_gives_no_gloss() -> None:
    """吊打 "(fig.) (slang) to own (one's opponent)" made "its own platform" match 吊打."""
    definitions = "to hang sb up and beat him/(fig.) (slang) to own (one's opponent)/to dominate/"
    assert [g for _, g in glosses(definitions)] == ["dominate"]
    assert list(glosses("(Internet slang) cleavage/")) == []
    assert [g for _, g in glosses("(fig.) to own/")] == ["own"]  # figurative alone is no slang


def test_a_proper_nouns_description_gives_no_gloss() -> None:
    """清华大学 is "Tsinghua University, Beijing": "beijing" was translated to it."""
    definitions = "Tsinghua University, Beijing/National Tsing Hua University, Hsinchu, Taiwan/"
    words = [g for _, g in glosses(definitions, proper=True)]
    assert "tsinghua university" in words and "beijing" not in words and "hsinchu" not in words
    assert [g for _, g in glosses("to mix, to blend/")] == ["mix", "blend"]  # an ordinary sense's commas list synonyms


def test_a_proper_noun_is_found_by_the_name_its_gloss_begins_with() -> None:
    words = {g for _, g in glosses("Donald Trump (1946-), American business magnate", proper=True)}
    assert "trump" in words and "donald" in words
    assert "american" not in words  # only the name the gloss begins with


def test_an_english_word_becomes_the_chinese_words_the_corpus_uses(dictionary: Dictionary) -> None:
    assert dictionary.table["panda"] == [["熊猫"]]
    assert dictionary.table["trump"] == [["特朗普"]]
    # A word read off a company's name does not crowd out the word's own translation.
    assert dictionary.table["technology"] == [["技术"]]


def test_a_two_word_name_is_translated_as_one(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    assert expand(["white", "house", "adviser"], dictionary, vocabulary)[0] == ["white", "house", "白宫"]


def test_a_derived_form_finds_the_gloss_with_its_stem(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    assert stem("innovative") == stem("innovation")
    assert expand(["innovative"], dictionary, vocabulary) == [["innovative", "创新"]]


def test_a_name_in_pinyin_finds_its_chinese_spelling(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    groups = expand(["liang", "wenfeng", "company"], dictionary, vocabulary)
    assert groups[0][:2] == ["liang", "wenfeng"] and "文峰" in groups[0]
    assert groups[1] == ["company"]


def test_a_name_whose_later_syllables_are_english_words_is_read_in_pinyin(
    dictionary: Dictionary, vocabulary: frozenset[str]
) -> None:
    # "run" and "long" are English words; the name starts with a word that is none ("liu", "tu").
    assert dictionary.table["run"] == [["跑"]] and dictionary.table["long"] == [["长"]]
    assert expand(["liu", "run", "says"], dictionary, vocabulary) == [["liu", "run", "刘润"], ["says"]]
    assert expand(["tu", "long", "zhi", "shu"], dictionary, vocabulary) == [
        ["tu", "long", "zhi", "shu", "屠龙", "屠龙之", "术"]
    ]
    # A run that starts with an English word is translated word by word, as before.
    assert expand(["run", "liu"], dictionary, vocabulary) == [["run", "跑"], ["liu"]]


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("jevons", "杰文斯"),
        ("Altman", "奥尔特曼"),
        ("Trump", "特朗普"),
        ("Priestley", "普利斯特里"),
        ("Elway", "埃尔维"),
    ],
)
def test_a_name_and_its_transliteration_share_a_consonant_skeleton(english: str, chinese: str) -> None:
    assert english_skeleton(english) == pinyin_skeleton(chinese)


def test_an_untranslated_name_takes_the_corpus_words_that_transliterate_it(
    dictionary: Dictionary, vocabulary: frozenset[str]
) -> None:
    assert "杰文斯" in vocabulary and transliterations("jevons", vocabulary) == ["杰文斯"]
    groups = expand(["jevons", "panda"], dictionary, vocabulary)
    assert groups == [["jevons"], ["panda", "熊猫"]]  # expand alone does not read names by sound
    assert with_transliterations(groups, dictionary, vocabulary) == [["jevons", "杰文斯"], ["panda", "熊猫"]]


def test_a_short_skeleton_or_a_common_word_is_not_read_as_a_transliteration(
    dictionary: Dictionary, vocabulary: frozenset[str]
) -> None:
    corpus = frozenset([*vocabulary, "埃尔维", "普利森"])
    assert english_skeleton("elway") == "lf" and transliterations("elway", corpus) == []  # collides with too many
    # "person" sounds like 普利森 by its consonants, but a word English uses often is not taken for a name.
    assert transliterations("person", corpus) == ["普利森"]
    assert with_transliterations([["person"]], dictionary, corpus) == [["person"]]


def test_names_by_sound_are_built_once_when_a_question_comes_during_the_warm_up(
    vocabulary: frozenset[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = frozenset([*vocabulary, "普利森"])  # a set no earlier test has built the table for
    read = []

    def slow_skeleton(chars: str) -> str:
        read.append(chars)
        time.sleep(0.001)
        return pinyin_skeleton(chars)

    monkeypatch.setattr(crosslingual, "pinyin_skeleton", slow_skeleton)
    start = threading.Barrier(2)
    tables: list[dict[str, tuple[str, ...]]] = []

    def ask() -> None:
        start.wait()
        tables.append(by_skeleton(corpus))

    callers = [threading.Thread(target=ask) for _ in range(2)]  # the background warm-up and a first question
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert tables[0] is tables[1] and "普利森" in tables[0][pinyin_skeleton("普利森")]
    assert len(read) == len(set(read))  # each word read once: the second caller waited for the first one's table


def test_a_chinese_homophone_misspelling_finds_the_corpus_spelling(
    dictionary: Dictionary, vocabulary: frozenset[str]
) -> None:
    assert read_aloud("蒸留") == read_aloud("蒸馏") == "zhengliu"
    assert expand(["蒸留"], dictionary, vocabulary) == [["蒸留", "蒸馏"]]


def test_the_verifier_reads_pinyin_names_as_the_corpus_writes_them(
    dictionary: Dictionary, vocabulary: frozenset[str]
) -> None:
    def spelt(question: str) -> str:
        return spelt_as_corpus(question, dictionary, vocabulary)

    assert spelt("What did Liu Run say?") == "What did 刘润 say?"
    assert spelt("Who hosts the Tu Long Zhi Shu podcast?") == "Who hosts the 屠龙之术 podcast?"
    assert spelt("what did liu run say") == "what did 刘润 say"  # typed lowercase, read as ``expand`` reads it
    assert spelt("How old is Liang Wenfeng?") == "How old is 梁文峰?"
    # Where every syllable is also an English gloss (CC-CEDICT's "liang", a unit of weight, and "wenfeng", a district),
    # a run still reads as a name when it is capitalised or holds a word English seldom uses, typed in any case.
    glossed = Dictionary(
        {**dictionary.table, "liang": [["梁"]], "wenfeng": [["文峰"]]}, dictionary.english, dictionary.sounds
    )
    assert spelt_as_corpus("How old is Liang Wenfeng?", glossed, vocabulary) == "How old is 梁文峰?"
    assert spelt_as_corpus("how old is liang wenfeng?", glossed, vocabulary) == "how old is 梁文峰?"
    # Common English words that happen to read as corpus text are left as typed, unless capitalised as a name.
    sounding = Dictionary(glossed.table, glossed.english, {**glossed.sounds, "longrun": ["龙润"]})
    assert spelt_as_corpus("in the long run", sounding, vocabulary) == "in the long run"
    assert spelt_as_corpus("Who is Long Run?", sounding, vocabulary) == "Who is 龙润?"
    # Anything else as asked: English words, a name the corpus does not read as, words apart across punctuation.
    assert spelt("Is the White House long?") == "Is the White House long?"
    assert spelt("Who is Sam Altman?") == "Who is Sam Altman?"
    assert spelt("Liu, Run") == "Liu, Run"


def test_a_word_the_corpus_has_is_left_alone(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    assert expand(["熊猫"], dictionary, vocabulary) == [["熊猫"]]


CUT_CORPUS = "模型的参数越多越好。网上说梁文峰创办了公司。"


def test_a_corpus_word_across_jiebas_cut_joins_the_question_word_the_corpus_lacks() -> None:
    known = frozenset(tokenize(CUT_CORPUS))
    question = "DeepSeek-V3 的总参数量是多少？"
    groups = [[t] for t in tokenize(question)]
    assert ["总参"] in groups and "总参" not in known  # jieba's cut: 总参|数量
    assert across_cuts(question, groups, known) == [["deepseek"], ["v3"], ["总参", "参数"], ["数量"]]
    assert across_cuts("公司的总参是谁？", [["公司"], ["总参"]], known) == [["公司"], ["总参"]]  # nothing crosses


def test_words_the_corpus_has_are_not_looked_across() -> None:
    known = frozenset(tokenize(CUT_CORPUS))
    groups = [["网上"], ["参数"]]
    assert across_cuts("网上参数", groups, known) == groups  # 上参 would cross, but both words are the corpus's
    assert across_cuts("总参数量", [["总参"]], frozenset()) == [["总参"]]  # no corpus yet


def test_a_single_pinyin_syllable_is_not_read_as_chinese(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    assert expand(["liang"], dictionary, vocabulary) == [["liang"]]  # 梁, 两, 量...: too many readings


def test_misspellings_are_read_as_the_likeliest_word(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    assert correct_spelling("qoute") == "quote"  # a transposition, before the commoner "route"
    assert correct_spelling("demnad") == "demand"
    assert expand(["pnada"], dictionary, vocabulary) == [["pnada", "熊猫"]]


def test_a_correction_is_one_edit_away_from_an_english_word_or_the_corpus() -> None:
    assert correct_spelling("quote") == "quote"  # a word is its own likeliest spelling
    assert correct_spelling("qutoe") == "quote"  # letters swapped
    assert correct_spelling("quotte") == "quote"  # one added
    assert correct_spelling("demnd") == "demand"  # one left out
    assert correct_spelling("qoutx") is None  # two edits away from every word
    assert correct_spelling("deepsek") is None  # one from "deepseek", which is no English word
    assert correct_spelling("deepsek", ["deepseek"]) == "deepseek"


def test_a_rare_real_word_is_not_corrected(dictionary: Dictionary, vocabulary: frozenset[str]) -> None:
    assert expand(["jevons"], dictionary, vocabulary) == [["jevons"]]


def test_readings_start_and_end_on_word_boundaries() -> None:
    sounds = build_sounds(["我们的生活约会很多"])  # 生活|约会: 活约 is no word of this text
    assert "活约" not in sounds.get("huoyue", [])
    assert sounds["shenghuo"] == ["生活"] and "生活约会" in sounds["shenghuoyuehui"]


def test_every_stretch_of_two_to_four_characters_between_word_boundaries_is_read() -> None:
    # Every pair of word boundaries 2 to 4 characters apart, however long the run: a run without punctuation
    # ("这是一个很长的句子" over and over) gives all of its stretches, those of four one-character words (他/也/不/去)
    # too. (The reading now looks only as far as a stretch can reach; its time is in CHANGELOG.md, not asserted.)
    text = "这是一个很长的句子" * 30 + "，他也不去看，我们的生活约会很多。"
    expected: set[str] = set()
    for run in HAN_RUN.findall(text):
        bounds = list(itertools.accumulate((len(w) for w in segment(run)), initial=0))
        expected |= {run[a:b] for a in bounds for b in bounds if 2 <= b - a <= 4}
    assert {w for words in build_sounds([text]).values() for w in words} == expected


def test_the_pipeline_imports_without_pypinyin_and_wordfreq() -> None:
    # They take half a second to import: rag.query loads them in the background, so a server is ready sooner.
    code = "import sys, rag.pipeline; print(sorted(m for m in ('pypinyin', 'wordfreq') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_traditional_word_the_corpus_writes_in_simplified_script_finds_it(
    dictionary: Dictionary, vocabulary: frozenset[str]
) -> None:
    # 技術 is 技术 in the corpus's script; 嗎 is 吗, a function word there, so no term.
    assert expand(["技術", "嗎"], dictionary, vocabulary) == [["技術", "技术"]]
    # A corpus in traditional script knows its words as written: its questions read as before.
    assert expand(["技術", "嗎"], dictionary, frozenset({"技術", "嗎"})) == [["技術"], ["嗎"]]


# --- Chinese questions over a corpus in Latin script ------------------------------------------------------------

ENGLISH_LINES = [
    "創始人 创始人 [chuang4 shi3 ren2] /founder/",
    "股價 股价 [gu3 jia4] /stock price/share price/",
    "下跌 下跌 [xia4 die1] /to fall/to drop/to decline/",
    "熊貓 熊猫 [xiong2 mao1] /panda/CL:隻|只[zhi1]/",
    "特朗普 特朗普 [Te4 lang3 pu3] /Donald Trump (1946-), American business magnate/",
    "王牌 王牌 [wang2 pai2] /trump card/",
]
ENGLISH_CORPUS = "The founders sold their shares when the stock price fell. Pandas eat bamboo. Trump spoke."


@pytest.fixture(scope="module")
def english_vocabulary() -> frozenset[str]:
    return frozenset(tokenize(ENGLISH_CORPUS))


def test_a_corpus_in_latin_script_gets_english_words_for_chinese_ones(english_vocabulary: frozenset[str]) -> None:
    chinese = build_dictionary(set(english_vocabulary), ENGLISH_LINES).chinese
    assert chinese["创始人"] == chinese["創始人"] == [["founders"]]  # as the corpus inflects "founder"
    assert chinese["股价"] == [["stock", "price"]]  # a two-word gloss the corpus has both words of
    assert chinese["下跌"] == [["fell"]]  # "fell" is a form of "fall"; "drop" and "decline" are not in the corpus
    assert chinese["熊猫"] == [["pandas"]]
    assert chinese["特朗普"] == [["trump"]]  # a name's word, where no ordinary gloss is found


def test_a_corpus_in_chinese_gets_no_english_words_for_chinese_ones(vocabulary: frozenset[str]) -> None:
    assert build_dictionary(set(vocabulary), [*LINES, *ENGLISH_LINES]).chinese == {}


def test_a_chinese_question_over_english_text_looks_up_the_corpus_words(english_vocabulary: frozenset[str]) -> None:
    dictionary = build_dictionary(set(english_vocabulary), ENGLISH_LINES)
    groups = expand(tokenize("创始人为什么在股价下跌时卖出？"), dictionary, english_vocabulary)
    assert ["创始人", "founders"] in groups
    assert ["股价", "stock", "price"] in groups
    assert ["下跌", "fell"] in groups


# --- CC-CEDICT's headwords, read once and cached ------------------------------------------------------------------


def test_the_cached_headwords_build_the_dictionary_the_lines_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [*LINES, *ENGLISH_LINES]
    corpora = [CORPUS, "熊貓吃竹子。白宮顧問說，技術創新很重要。", ENGLISH_CORPUS]  # simplified, traditional, Latin
    expected = [build_dictionary(set(tokenize(corpus)), lines) for corpus in corpora]
    assert all(d.table for d in expected[:2]) and expected[2].chinese
    monkeypatch.setattr(crosslingual, "cedict_lines", lambda: iter(lines))
    made = crosslingual.default_headwords(tmp_path)  # read from the lines, and saved

    def read_again(lines: object) -> None:
        raise AssertionError("read again")

    monkeypatch.setattr(crosslingual, "read_headwords", read_again)
    assert crosslingual.default_headwords(tmp_path) == made  # read from the file
    monkeypatch.setattr(crosslingual, "default_headwords", functools.partial(crosslingual.default_headwords, tmp_path))
    assert [build_dictionary(set(tokenize(corpus))) for corpus in corpora] == expected


def test_the_cache_is_named_by_the_table_and_the_code_that_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = crosslingual._headwords_digest()
    assert crosslingual._headwords_digest() == name
    # Each module whose code reads the table or tokenises a headword is in the digest.
    readers = {read_headwords, glosses, tokenize, Segmenter, "rag.text.scripts"}
    assert {getattr(r, "__module__", r) for r in readers} <= set(crosslingual.HEADWORDS_CODE)
    with monkeypatch.context() as patched:
        patched.setattr(crosslingual, "HEADWORDS_CODE", crosslingual.HEADWORDS_CODE[1:])
        assert crosslingual._headwords_digest() != name
    other = tmp_path / "cedict.txt.gz"
    other.write_bytes(crosslingual.cedict_file().read_bytes() + b"\n")
    monkeypatch.setattr(crosslingual, "cedict_file", lambda: other)
    assert crosslingual._headwords_digest() != name
