"""Names written in Chinese characters, in any message that has them (whatever the dataset's
languages): jieba's part-of-speech tagger (its bundled dictionary, nothing downloaded) tags
person names ``nr``; a family name written as a separate token before a tagged given name is
taken in ("刘" + "秀英"); and a name after "我叫", "姓名:" or "名字是" is one whatever the tagger
says.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from types import ModuleType

import regex

HAN = regex.compile(r"\p{Han}")
_ALL_HAN = regex.compile(r"\p{Han}+")
# Person names; the tagger's transliterated (nrt) and foreign (nrfg) names are mostly brands
# and places in chat ("华为"), and are left out.
_NAME_TAGS = frozenset({"nr"})
# The most common single-character family names (the Hundred Family Surnames' frequent ones).
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤"
)
_CUED_NAME = regex.compile(
    r"(?:我叫|我的名字是|名字是|名字叫|姓名[ \t]*[:\uff1a]?|联系人[ \t]*[:\uff1a]|收件人[ \t]*[:\uff1a]|"
    r"患者姓名[ \t]*[:\uff1a]?)[ \t]*(?P<pii>\p{Han}{2,3})"
)
# Honorific after the name: "张伟先生", "李女士".
_TITLE = regex.compile(r"先生|女士|小姐|老师|同学|经理")

_LOCK = threading.Lock()
_loaded = False


def _tagger() -> ModuleType:
    """jieba's tagger, its dictionary loaded once per process on first use."""
    global _loaded
    import jieba
    import jieba.posseg

    if not _loaded:
        with _LOCK:
            if not _loaded:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _loaded = True
    return jieba.posseg


# Words of courtesy the tagger reads as names ("谢谢" opens with the family name 谢).
_COURTESY = frozenset({"谢谢", "多谢", "感谢", "高兴", "明白", "好的", "您好", "你好"})

_PHONE = regex.compile(
    r"(?:电话|手机|手机号|手机号码|联系电话|联系方式|号码)[ \t]*(?:是|为)?[ \t]*[:\uff1a]?[ \t]*"
    r"(?P<pii>\+?\d[\d \-]{6,16}\d)(?!\d)"
)


def chinese_phones(text: str) -> Iterator[tuple[int, int, str, float]]:
    """Phone numbers after a Chinese cue ("电话13812345678", "手机号: …")."""
    for match in _PHONE.finditer(text):
        yield *match.span("pii"), "PHONE_NUMBER", 0.85


def chinese_names(text: str) -> Iterator[tuple[int, int, str, float]]:
    """PERSON spans in the Chinese-script parts of ``text``."""
    if HAN.search(text) is None:
        return
    position = 0
    previous: tuple[int, str, str] | None = None
    for pair in _tagger().cut(text):
        word, flag = pair.word, pair.flag
        start = text.find(word, position)
        if start < 0:
            continue
        end = start + len(word)
        position = end
        if flag in _NAME_TAGS and _ALL_HAN.fullmatch(word) and len(word) >= 2:
            if word in _COURTESY:
                pass
            elif (
                previous is not None
                and previous[0] == start - 1
                and (previous[1] in _SURNAMES or previous[2] in _NAME_TAGS)
            ):
                yield start - 1, end, "PERSON", 0.8
            elif word[0] in _SURNAMES or len(word) == 3:
                yield start, end, "PERSON", 0.8
        previous = (start, word, flag) if len(word) == 1 else None
    for match in _CUED_NAME.finditer(text):
        yield *match.span("pii"), "PERSON", 0.85
    for match in _TITLE.finditer(text):
        end = match.start()
        # The longest run of two or three characters before the title that opens with a
        # family name ("张伟先生"), else the family name alone ("李女士").
        for size in (3, 2, 1):
            start = end - size
            if start >= 0 and text[start] in _SURNAMES and _ALL_HAN.fullmatch(text[start:end]):
                yield start, end, "PERSON", 0.8
                break
