from __future__ import annotations

import json

from rag.text.lexicon import Lexicon, build_lexicon
from rag.text.tokenize import tokenize

CEDICT = ["創始人 创始人 [chuang4 shi3 ren2] /founder/", "熊貓 熊猫 [xiong2 mao1] /panda/"]
TEXTS = ["The founders of the zoo.", "Pandas eat bamboo."]


def _english_lexicon() -> Lexicon:
    tokens = [tokenize(t) for t in TEXTS]
    return build_lexicon(TEXTS, tokens, {t for ts in tokens for t in ts}, CEDICT)


def test_a_lexicon_in_latin_script_round_trips_with_its_english_words_for_chinese_ones() -> None:
    lexicon = _english_lexicon()
    assert lexicon.latin
    founders, pandas = [["founders"]], [["pandas"]]
    assert lexicon.dictionary.chinese == {"创始人": founders, "創始人": founders, "熊猫": pandas, "熊貓": pandas}
    again = Lexicon.from_json(json.loads(json.dumps(lexicon.to_json(), ensure_ascii=False)))
    assert again.dictionary.chinese == lexicon.dictionary.chinese
    assert again.latin


def test_an_index_saved_before_the_english_words_for_chinese_ones_loads_without_them() -> None:
    saved = _english_lexicon().to_json()
    del saved["dictionary"]["chinese"]
    assert Lexicon.from_json(saved).dictionary.chinese == {}
