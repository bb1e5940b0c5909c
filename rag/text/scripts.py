"""The Han script as regular expressions: one definition of which characters count as Chinese."""

from __future__ import annotations

import re

# CJK Unified Ideographs: the block that holds the characters of everyday Chinese text.
_UNIFIED = r"\u4e00-\u9fff"
# Every Han character: the unified block with Extension A, the compatibility ideographs and the
# extensions on the supplementary planes, so that counting Chinese misses none of it.
_ALL = rf"\u3400-\u4dbf{_UNIFIED}\uf900-\ufaff\U00020000-\U0002ffff"

HAN = re.compile(rf"[{_ALL}]")
# A run of unified ideographs only. Pinyin readings are built over these runs, and pypinyin leaves
# some rarer ideographs unread (Extension A's 䶿, the compatibility 豈): a run holding one would
# carry the raw character into the reading.
HAN_RUN = re.compile(rf"[{_UNIFIED}]+")
