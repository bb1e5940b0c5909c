from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.ingest.loading import load_corpus, load_document
from rag.types import Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_FILES = {path.name[:3]: path for path in SEEDS.glob("*.txt")}


@pytest.fixture(scope="module")
def seeds() -> dict[str, Document]:
    # That the seeds load as a corpus, none skipped, is checked in test_loading; here only their text matters.
    return {seed: load_document(path) for seed, path in SEED_FILES.items()}


def _squash(text: str) -> str:
    return " ".join(text.split())


# --- the five seeds ---------------------------------------------------------------------------

LEFTOVERS = [
    pytest.param(
        "000", ["snipd", "Play snip", "Untitled", "Snips", "xyzcdn", "m4a", "🎧", "podcast-episode"], id="000"
    ),
    pytest.param(
        "001",
        [
            *("CDT 档案卡", "标题：", "发表日期", "版权说明", "主题归类", "CDS收藏", "关胖本胖"),
            *("addtoany", "Facebook", "Twitter", "Telegram", "Reddit", "WhatsApp", "Copy Link", "1739362271000"),
        ],
        id="001",
    ),
    pytest.param(
        "002",
        ["有杠杆的股票平台", "首页", "配资", "栏目分类", "你的位置", "发布日期", "点击次数", "编辑 /", "黄静", "•"],
        id="002",
    ),
    pytest.param("003", ["原链接", "youtube", "**", "##"], id="003"),
    pytest.param("004", ["RSS", "feedx", "YouTube", "GMT", "weserv", "1740249544000"], id="004"),
]


@pytest.mark.parametrize(("seed", "forbidden"), LEFTOVERS)
def test_seed_text_has_no_markup_links_or_page_furniture(
    seeds: dict[str, Document], seed: str, forbidden: list[str]
) -> None:
    text = seeds[seed].text
    assert not re.search(r"<[A-Za-z!/][^>]*>", text), "HTML tag"
    assert not re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", text, re.IGNORECASE), "HTML entity"
    assert "http" not in text and "www." not in text
    assert "\xa0" not in text and "\n\n\n" not in text
    assert all(line == line.strip() for line in text.split("\n")), "indentation or trailing spaces"
    assert not re.search(r"^(#{1,6} |> |[-*•] )", text, re.MULTILINE), "markdown marker"
    for leftover in forbidden:
        assert leftover not in text


BODY = {
    "000": [
        "春节期间整个科技行业最大的新闻应该是DeepSeek了，",
        "正好开工第一天，我的好友，也是多次串台的律人行主播 Lily 找到我说一起聊下这个话题。",
        "我们4个人的对谈并没有涉及太过深的技术探讨，",
        "00:04:08 Lily眼中春节DeepSeek的爆火",
        "00:46:40 美国西岸的都在买英伟达，而东岸的都在卖英伟达",
        "00:57:49 什么是模型蒸馏",
        "01:49:41 2025年，可能是AI Agent实际落地年",
        "音乐：AI音乐工具 天谱乐 生成",
        "屠龙之术是一档关注科技、互联网、风险投资的播客，",
        "或许某天再有新的“龙”出现的时候，就是这档播客停更之时。",
    ],
    "001": [
        "DeepSeek横空出世，成功破圈。",
        "唯有屏蔽杂音，才能直面真相：DeepSeek到底是什么？",
        "DeepSeek师承chatgpt",
        "先说Deepseek和ChatGPT之间的关系。",
        "显然，Deepseek不是“天上掉下个林妹妹”，而是站在巨人肩膀上的衍生产品。",
        "蒸馏不等于盗窃、抄袭。",
        "反而是英伟达的股价“大跌”17%，Deepseek真是“英伟达终结者”吗？",
        "Deepseek是计划外的中美科技合作产物",
        "只有市场机制下的合作才保真。",
        "划时代的好产品一定不会缺席。",
    ],
    "002": [
        "很多人在后台给我留言,要我讲讲 DeepSeek。",
        "这根刺的名字叫:斯普特尼克时刻。",
        "人类历史上第一颗人造卫星。",
        "你试过 DeepSeek 了吗?",
        "1/20。便宜到不敢相信。",
        "混合专家系统,也就是 Mixure of Experts。简称 MoE。",
        '有多少"人工",就有多少"智能"。',
        "MoE+RL。",
        "英伟达的显卡同理。",
        "否。技术竞合催生共赢,封锁反噬创新生态。",
    ],
    "003": [
        "在AI技术飞速发展的今天,DeepSeek、OpenAI、NVIDIA等行业巨头的竞争与协作塑造了全球AI生态。",
        "亮点",
        "训练深度搜索的 V3 模型仅花费了 600 万美元,这一成本远低于业内普遍认为的十亿美元级训练费用。",
        "DeepSeek的崛起:中国AI的“核弹级”突破",
        "这种设计大幅降低了计算资源的消耗。",
        "美国出口管制:为何挡不住中国AI的崛起",
        "未来的AGI:谁能笑到最后?",
        "详细对话",
        "Lex Fridman: DeepSeek如何做到成本如此之低的训练和推理?",
        "Dylan Patel: 尽管美国对中国的GPU出口进行了限制,DeepSeek仍然通过自主研发的技术绕过了这些限制。",
    ],
    "004": [
        "DeepSeek托生于一家从事量化金融的中国公司“幻方量化”。",
        "DeepSeek 物美价廉？",
        "台湾人工智能实验室创办人杜奕瑾先生认为，DeepSeek R1的出现，确实反映出美中人工智能的技术差距在缩小。",
        "“但是这算不算违反知识产权，算不算剽窃，”杜奕瑾先生说，“其实在法律上是还没有定论的。”",
        "DeepSeek证明算力不重要了？",
        "“就像人们常说的，钱不是万能的，但没钱是万万不能的。算力也是这个道理，”他说。",
        "DeepSeek给美国人工智能界敲响警钟？",
        "不过中国人工智能的崛起还是给美国业界带来了一定的压力，尤其对于OpenAI等坚持闭源策略的公司。",
        "特朗普政府强调放松监管鼓励创新，并加大在人工智能领域的投资。",
        "该项目被称为“星际之门”(Stargate)。",
    ],
}


@pytest.mark.parametrize(
    ("seed", "sentence"),
    [
        pytest.param(seed, sentence, id=f"{seed}-{n}")
        for seed, sentences in BODY.items()
        for n, sentence in enumerate(sentences)
    ],
)
def test_seed_body_sentences_survive_cleaning(seeds: dict[str, Document], seed: str, sentence: str) -> None:
    assert _squash(sentence) in _squash(seeds[seed].text)


def test_spliced_spam_phrase_is_cut_out_of_the_sentence_it_was_put_in(seeds: dict[str, Document]) -> None:
    assert "个人观点有杠杆的股票平台,仅供参考。" in SEED_FILES["002"].read_text(encoding="utf-8")
    assert seeds["002"].text.endswith("个人观点,仅供参考。")


def test_cleaning_is_deterministic() -> None:
    assert load_corpus([SEEDS]) == load_corpus([SEEDS])


# --- generic mechanisms on hand-made pages ----------------------------------------------------


def test_spliced_phrase_is_found_from_the_page_not_a_list(tmp_path: Path) -> None:
    page = (
        "best broker online Why rates fell\n\n  • Home\n  • Markets\n  • Brokers\n"
        "  best broker online Why rates fell\n  Posted: 2024-03-01 08:00  Views: 12\n\n"
        "  best broker online\n\n  Rates fell in March. Banks best broker online cut lending.\n"
    )
    (tmp_path / "spam.txt").write_text(page, encoding="utf-8")
    doc = load_document(tmp_path / "spam.txt")
    assert doc.title == "Why rates fell"
    assert doc.published == "2024-03-01T08:00:00"
    assert doc.text == "Why rates fell\n\nRates fell in March. Banks cut lending."


def test_an_honest_title_word_is_not_taken_for_spam(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("DeepSeek 是什么\n\nDeepSeek\n\nDeepSeek 是一家公司。", encoding="utf-8")
    assert load_document(tmp_path / "a.txt").text == "DeepSeek 是什么\n\nDeepSeek\n\nDeepSeek 是一家公司。"


# The opening line of a .txt file, and the title it gives: a heading mark is left out, a "#" in words is not.
OPENING_LINES = {
    "# Meeting notes": "Meeting notes",
    "## 港口笔记": "港口笔记",
    "#1 rule of boats": "#1 rule of boats",
    "Boats # 1 ranking": "Boats # 1 ranking",
}


@pytest.mark.parametrize(("first_line", "title"), OPENING_LINES.items())
def test_a_markdown_heading_opening_a_text_file_gives_its_title_without_the_mark(
    tmp_path: Path, first_line: str, title: str
) -> None:
    # Too little Markdown for the file to read as Markdown: the text is kept as written, the title is the words.
    (tmp_path / "notes.txt").write_text(f"{first_line}\n\nThe harbour keeps forty boats.\n", encoding="utf-8")
    doc = load_document(tmp_path / "notes.txt")
    assert doc.title == title
    assert doc.text.startswith(first_line)
