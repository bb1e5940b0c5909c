"""Question analysis: what is typed around a question taken off; what a question asks to be defined or identified."""

from __future__ import annotations

import pytest

from rag.errors import BadQueryError
from rag.query import clean_question, definition_subject, undressed


@pytest.mark.parametrize(
    ("typed", "question"),
    [
        ("Who founded DeepSeek?!", "Who founded DeepSeek?"),
        ("What is MoE??", "What is MoE?"),
        ("Is it true?!?!", "Is it true?"),
        ("DeepSeek是什么？？", "DeepSeek是什么？"),
        ("DeepSeek是什么！？", "DeepSeek是什么？"),
        ("Hi, what is MoE?", "What is MoE?"),
        ("hello! What is MoE?", "What is MoE?"),
        ("Hey what is MoE", "What is MoE?"),  # and its question mark back (below)
        ("Good morning! deepseek founder", "deepseek founder"),
        ("你好，DeepSeek是什么？", "DeepSeek是什么？"),
        ("What is MoE? Thanks!", "What is MoE?"),
        ("What is MoE? Thank you so much.", "What is MoE?"),
        ("jevons paradox nvidia thx", "jevons paradox nvidia"),
        ("DeepSeek好吗？谢谢你！", "DeepSeek好吗？"),
        ("Monica 产品合伙人 张涛谢谢！", "Monica 产品合伙人 张涛"),
        ("What is DeepSeek? 🤔", "What is DeepSeek?"),
        ("DeepSeek是什么？😀", "DeepSeek是什么？"),
        ("What is MoE? ❤️", "What is MoE?"),
        ("“What is MoE?”", "What is MoE?"),
        ("'What is Nvidia's loss?'", "What is Nvidia's loss?"),
        ("「DeepSeek是什么？」", "DeepSeek是什么？"),
        ("Hi! “What is MoE?!” 🙂 Thanks", "What is MoE?"),
        ("So, what is MoE?", "What is MoE?"),
        ("Ok so what is MoE", "What is MoE?"),
        ("Quick question: what is MoE?", "What is MoE?"),
        ("Q: What is MoE?", "What is MoE?"),
        ("Hi! Quick question: who is Liang Wenfeng?", "Who is Liang Wenfeng?"),
        ("Q: deepseek r1 context length", "deepseek r1 context length"),  # a keyword query keeps its case
        ("请问MoE是什么？", "MoE是什么？"),
        ("问：MoE是什么？", "MoE是什么？"),
        ("MLA是什么意思啊", "MLA是什么意思？"),  # a sentence-final particle adds a tone, not a word
        ("什么是MLA呀？", "什么是MLA？"),
        ("DeepSeek是什么呢？", "DeepSeek是什么？"),
    ],
)
def test_what_is_typed_around_a_question_is_taken_off(typed: str, question: str) -> None:
    assert undressed(typed) == question


@pytest.mark.parametrize(
    "question",
    [
        "“国运”是什么意思？",  # quotation marks around a part, not the whole
        "“国运”和“赌国运”",
        "什么是Gtk♯？",  # a symbol inside the question is part of it
        "节目名称前标有★，是什么意思？",
        "How do I say thank you?",
        "怎么说谢谢？",
        "Hey Jude lyrics",
        "So does Liu Run think DeepSeek distilled ChatGPT?",  # "so" without a comma may belong to the question
        "Thanks!",  # nothing would be left
        "Hello!",
        "🤔",
        "What is MoE…",
        "好吧",  # too short to be more than the particle's phrase
        "liang wenfeng catfish quote",  # keywords, not a question: no question mark is added
        "深度求索 注册资金",
        "Tell me about Stargate",
    ],
)
def test_a_question_is_otherwise_left_as_typed(question: str) -> None:
    assert undressed(question) == question


@pytest.mark.parametrize(
    ("typed", "question"),
    [
        ("what did liang wenfeng say about the catfish", "what did liang wenfeng say about the catfish?"),
        ("Who founded DeepSeek", "Who founded DeepSeek?"),
        ("Is DeepSeek open source", "Is DeepSeek open source?"),
        ("DeepSeek的创始人是谁", "DeepSeek的创始人是谁？"),
        ("DeepSeek开源吗", "DeepSeek开源吗？"),
        ("Hi, who is Lily", "Who is Lily?"),
    ],
)
def test_a_question_typed_without_its_question_mark_gets_it(typed: str, question: str) -> None:
    assert undressed(typed) == question


def test_a_question_is_cleaned_once_for_every_model() -> None:
    assert clean_question("  Hi,\n what   is MoE?! ") == "What is MoE?"
    with pytest.raises(BadQueryError, match="empty"):
        clean_question(" \n ")


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("What is MLA?", "MLA"),
        ("what was Sputnik", "Sputnik"),
        ("Who is Liang Wenfeng?", "Liang Wenfeng"),
        ("What is the Jevons paradox?", "Jevons paradox"),
        ("What are MoE models?", "MoE models"),
        ("幻方量化是什么？", "幻方量化"),
        ("什么是模型蒸留", "模型蒸留"),
        ("罗福莉是谁？", "罗福莉"),
        ("谁是梁文峰?", "梁文峰"),
        ("什麼是卡門線?", "卡門線"),  # traditional Chinese
        ("What does MoE stand for?", "MoE"),
        ("what does MLA mean", "MLA"),
        ("Tell me about Stargate", "Stargate"),
        ("Define model distillation.", "model distillation"),
        ("Explain the Jevons paradox", "Jevons paradox"),
        ("介绍一下幻方量化", "幻方量化"),
        ("AGI是什么意思？", "AGI"),
        ("蒸馏技术指什么？", "蒸馏技术"),
        ("屠龙之术是啥？", "屠龙之术"),
        ("保加利亞人屠夫是誰?", "保加利亞人屠夫"),
        ("What is mixture of experts?", "mixture of experts"),  # a term that holds "of", asked without an article
        # As typed: contractions, "exactly", a polite frame, more Chinese frames.
        ("what's MoE?", "MoE"),
        ("whats MoE", "MoE"),
        ("Who's Liang Wenfeng?", "Liang Wenfeng"),
        ("What exactly is MoE?", "MoE"),
        ("What is MoE exactly?", "MoE"),
        ("Can you explain MoE?", "MoE"),
        ("Can you tell me what MoE is?", "MoE"),  # asked inside another question
        ("meaning of distillation", "distillation"),  # as typed into a search box
        ("MoE meaning", "MoE"),
        ("MoE stands for?", "MoE"),
        ("definition of MoE", "MoE"),
        ("Stargate definition", "Stargate"),
        ("Do you know who Liang Wenfeng is?", "Liang Wenfeng"),
        ("I want to know what MoE is", "MoE"),
        ("I'd like to know what the Stargate project is", "Stargate project"),
        ("Could you tell me about Stargate?", "Stargate"),
        ("Tell me about MoE please", "MoE"),
        ("Describe MoE", "MoE"),
        ("什么叫MoE", "MoE"),
        ("啥是MoE", "MoE"),
        ("解释一下MoE", "MoE"),
        ("请介绍一下幻方量化", "幻方量化"),
        ("MoE指的是什么", "MoE"),
        ("MoE是什么东西", "MoE"),
        # A term alone, as typed into a search box, asks what it is.
        ("DeepSeek", "DeepSeek"),
        ("MoE?", "MoE"),
        ("Jevons paradox", "Jevons paradox"),
        ("幻方量化", "幻方量化"),
        ("mixture of experts", "mixture of experts"),
        ("何鸿燊是谁？", "何鸿燊"),  # 何 is also a surname: only its question words are no subject
        ("何鸿燊", "何鸿燊"),
    ],
)
def test_a_question_that_asks_what_or_who_something_is_names_its_subject(question: str, subject: str) -> None:
    assert definition_subject(question) == subject


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",  # a preposition: asks about something else
        "Can you tell me what the capital of France is?",
        "The meaning of DeepSeek",
        "Do you know who the CEO of Apple is?",
        "Tell me about the history of DeepSeek",  # "of" after an article: a relation
        "What does the Bank of China mean?",
        "Who is DeepSeek's chief technology officer?",  # a possessive: asks for a role
        "What is DeepSeek valued at, and has it taken any outside funding?",
        "What is it?",
        "Who is he?",
        "What is the most expensive model ever trained so far?",  # more than four words
        "播客《屠龙之术》的主播是谁？",  # 的: asks for a role
        "围棋的规则是什么？",
        "中国人工智能产业的发展历史是什么？",  # more than ten characters
        "What was the museum originally called?",  # asks for a name
        "证据显示球栉水母不是什么？",  # asks what it is not
        "How does MLA work?",
        "Explain how MoE keeps costs down",
        "Tell me about DeepSeek's costs",
        "What does DeepSeek say about distillation?",
        "DeepSeek用了多少块GPU？",
        "What's the capital of France?",
        "Who's the founder of DeepSeek?",
        "Can you explain how MoE works?",
        # Typed alone: more than a term.
        "the capital of France",  # "of" after an article: a relation
        "MoE 256 experts 8 active",  # more than four words
        "how many GPUs",
        "DeepSeek 有哪些短板？",
        "DeepSeek's founder",
        "长城有多长？",  # a question in Chinese, without a question form's frame
        "如何做红烧肉？",
        "太阳系有几颗行星？",
        "長城有多長？",  # in traditional script too
        # Questions with a classical question word or 甚麼, as DRCD asks them, were taken for terms.
        "島原之亂於何時發生？",
        "明仁天皇於何年即位?",
        "元朝定都於何處?",
        "元皇后祖籍何处？",
        "何人自稱「如來」?",
        "浙江海塘有何作用?",
        "冷湖行政区因何而得名？",
        "耳蝸是甚麼形狀?",
        "歐洲第一高峰為?",  # ends with "is": asks what it is called
        "椰子猫平均有多重？",
    ],
)
def test_any_other_question_has_no_subject(question: str) -> None:
    assert definition_subject(question) is None
