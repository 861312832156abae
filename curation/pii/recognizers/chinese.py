"""Names written in Chinese characters, in any message that has them (whatever the dataset's
languages): jieba's part-of-speech tagger (its bundled dictionary, nothing downloaded) tags
person names ``nr``; such a word is a name when it opens with a family name (Faker's zh_CN and
zh_TW lists and the compound family names), is no everyday word (``wordfreq``) and is no place
("…湖", "…路", a word before "山" or "河"); a family name written as a separate token before a
tagged given name is taken in ("刘" + "秀英"); a transliterated full name joined by a middle dot
("哈利·华纳") is one; and a name after "我叫", "姓名:" or "名字是" is one whatever the tagger
says.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from types import ModuleType

import regex
from faker.providers.person.zh_CN import Provider as ZhCnNames
from faker.providers.person.zh_TW import Provider as ZhTwNames
from wordfreq import zipf_frequency

HAN = regex.compile(r"\p{Han}")
_ALL_HAN = regex.compile(r"\p{Han}+")
# Person names; the tagger's transliterated names (nrt) are mostly brands and places in chat
# ("海尔") and are left out; nrfg is what its dictionary lists as a full person name.
_NAME_TAGS = frozenset({"nr", "nrfg"})
# Every family name Faker's Chinese providers know (simplified and traditional script) and the
# compound family names of the Hundred Family Surnames: a tagged word that opens with none of
# them is a transliterated place or brand far more often than a name ("迪士尼", "支付宝").
_COMPOUND_PAIRS = (
    "欧阳司马上官诸葛东方皇甫尉迟公孙慕容长孙宇文司徒令狐夏侯呼延端木独孤"
    "南宫西门轩辕澹台闻人万俟申屠太史单于公冶赫连拓跋钟离宗政濮阳淳于东郭"
)
_COMPOUND_SURNAMES = frozenset(
    _COMPOUND_PAIRS[index : index + 2] for index in range(0, len(_COMPOUND_PAIRS), 2)
)
# Compound family names that are no everyday word, so that the word after one is a given name
# whatever the tagger says ("司马" + "文静"); "东方", "西门", "长孙" are words too.
_COMPOUND_BEFORE_GIVEN = _COMPOUND_SURNAMES - {
    "东方",
    "西门",
    "南宫",
    "长孙",
    "太史",
    "单于",
    "司徒",
    "东郭",
}
_ALL_SURNAMES = frozenset(
    name for name in (*ZhCnNames.last_names, *ZhTwNames.last_names) if len(name) == 1
)
# A tagged word at least this frequent is an everyday word that happens to open with a family
# name ("范畴", "王朝", "华为"); common given names stay below it ("王刚" 3.8).
_EVERYDAY_ZIPF = 4.0
# Last characters of places and things, rare at the end of a given name ("玄武湖", "仁爱路").
_PLACE_ENDS = frozenset("湖寺庙路湾轩塔堡港岛街州县省镇村奖属树草周赛物馆院楼洲")
# What follows a place or a people rather than a person ("史旺森山脉", "卡伦金人", "科奎姆河").
_PLACE_NEXT = regex.compile(
    r"[山河湖江州县市省区镇村路街寺庙宫城港岛湾峡谷族语式派碑]|人(?!员|士|家)|"
    r"广场|公园|大学|中学|医院|公司|集团|大厦|酒店|球场|机场|车站"
)
# Characters of foreign-name transliteration (Xinhua's usage) that Chinese given names hardly
# use: "哈德逊", "欧登塞", "莫里逊" open with a family name but are places and foreigners.
_TRANSLITERATION = frozenset("斯尔拉逊迪塞顿姆诺卡普伊那勒莱茨兹索蒂")
# The middle dots that join the parts of a transliterated name.
_DOTS = frozenset("·・‧•")
# What the tagger calls a lone character left over from a foreign name: unknown, a noun
# morpheme, a name part.
_SYLLABLE_TAGS = frozenset({"x", "ng", "g", "nz", "nr", "nrt"})
# A word this rare is a syllable of a transliteration rather than a word of the sentence.
_RARE_ZIPF = 3.0
# The most common single-character family names (the Hundred Family Surnames' frequent ones).
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
    "邵万钱严覃武戴莫孔向汤"
)
_CUED_NAME = regex.compile(
    r"(?:我叫|我的名字是|名字是|名字叫|(?:患者)?姓名(?:[ \t]*[:\uff1a]|是|为|叫|[ \t])|"
    r"联系人[ \t]*[:\uff1a]|收件人[ \t]*[:\uff1a])[ \t]*(?P<pii>\p{Han}{2,3})"
)
# "姓名" as a field label needs a colon, a verb or a space after it: "姓名的中间" speaks of names.
# Honorific or profession after the name: "张伟先生", "李女士", "刘建平医生".
_TITLE = regex.compile(
    r"先生|女士|小姐|老师|同学|经理|医生|大夫|律师|博士|教授|主任|校长|院长|总裁|董事长"
)

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


@functools.lru_cache(maxsize=65536)
def _zipf(word: str) -> float:
    return zipf_frequency(word, "zh")


def _opens_with_surname(word: str) -> bool:
    """Two characters need a frequent family name ("王刚"; "安达", "古董" are words); three or
    four any family name Faker knows, or a compound one ("萧汝章", "司马炎")."""
    if word[:2] in _COMPOUND_BEFORE_GIVEN:
        return len(word) <= 4
    if len(word) == 2:
        return word[0] in _SURNAMES
    return word[0] in _ALL_SURNAMES and len(word) == 3 and not _TRANSLITERATION & set(word[1:])


def _place_like(text: str, word: str, end: int) -> bool:
    return word[-1] in _PLACE_ENDS or _PLACE_NEXT.match(text, end) is not None


def _dotted_names(tokens: list[tuple[int, int, str, str]]) -> Iterator[tuple[int, int]]:
    """Transliterated full names joined by a middle dot ("哈利·华纳", "威廉·莱昂·麦肯齐·金"): the
    words on both sides of the dots, extended outwards over further name-like words, unless a
    side is a place, an organisation or a number ("中国·杭州", "2019·北京")."""
    index = 1
    while index < len(tokens) - 1:
        if not (
            tokens[index][2] in _DOTS
            and _name_part(tokens[index - 1])
            and _name_part(tokens[index + 1])
        ):
            index += 1
            continue
        first, last = index - 1, index + 1
        while (
            last + 2 < len(tokens) and tokens[last + 1][2] in _DOTS and _name_part(tokens[last + 2])
        ):
            last += 2
        while first > 0 and _extends_name(tokens[first - 1]):
            first -= 1
        while last + 1 < len(tokens) and _extends_name(tokens[last + 1]):
            last += 1
        yield tokens[first][0], tokens[last][1]
        index = last + 1


def _name_part(token: tuple[int, int, str, str]) -> bool:
    return _ALL_HAN.fullmatch(token[2]) is not None and not token[3].startswith(("ns", "nt", "m"))


def _extends_name(token: tuple[int, int, str, str]) -> bool:
    """A further syllable of a transliteration: tagged a name, a rare word, or a lone character
    the tagger could not place ("彼得罗" + "娃")."""
    word, flag = token[2], token[3]
    return _ALL_HAN.fullmatch(word) is not None and (
        flag.startswith("nr")
        or _zipf(word) < _RARE_ZIPF
        or (len(word) == 1 and flag in _SYLLABLE_TAGS)
    )


def chinese_names(text: str) -> Iterator[tuple[int, int, str, float]]:
    """PERSON spans in the Chinese-script parts of ``text``."""
    if HAN.search(text) is None:
        return
    position = 0
    previous: tuple[int, str, str] | None = None
    compound: tuple[int, int] | None = None
    tokens: list[tuple[int, int, str, str]] = []
    for pair in _tagger().cut(text):
        word, flag = pair.word, pair.flag
        start = text.find(word, position)
        if start < 0:
            continue
        end = start + len(word)
        position = end
        tokens.append((start, end, word, flag))
        if (
            compound is not None
            and compound[1] == start
            and 1 <= len(word) <= 2
            and _ALL_HAN.fullmatch(word)
            and _zipf(word) < _EVERYDAY_ZIPF
        ):
            yield compound[0], end, "PERSON", 0.8
        elif flag in _NAME_TAGS and _ALL_HAN.fullmatch(word) and len(word) >= 2:
            if word in _COURTESY or _place_like(text, word, end):
                pass
            elif (
                previous is not None
                and previous[0] == start - 1
                and (previous[1] in _SURNAMES or previous[2] in _NAME_TAGS)
            ):
                yield start - 1, end, "PERSON", 0.8
            elif _opens_with_surname(word) and _zipf(word) < _EVERYDAY_ZIPF:
                yield start, end, "PERSON", 0.8
        previous = (start, word, flag) if len(word) == 1 else None
        compound = (start, end) if word in _COMPOUND_BEFORE_GIVEN else None
    if any(dot in text for dot in _DOTS):
        for start, end in _dotted_names(tokens):
            yield start, end, "PERSON", 0.8
    for match in _CUED_NAME.finditer(text):
        yield *match.span("pii"), "PERSON", 0.85
    # A name begins where a word begins: in "对于算命先生" the family name 于 ends the word 对于.
    word_starts = {token[0] for token in tokens}
    for match in _TITLE.finditer(text):
        end = match.start()
        # The longest run of two or three characters before the title that opens with a
        # family name ("张伟先生"), else the family name alone ("李女士").
        for size in (3, 2, 1):
            start = end - size
            if (
                start in word_starts
                and text[start] in _SURNAMES
                and _ALL_HAN.fullmatch(text[start:end])
            ):
                yield start, end, "PERSON", 0.8
                break
