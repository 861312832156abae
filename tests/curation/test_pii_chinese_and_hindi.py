# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Names in Chinese script (in any message, whatever the dataset's languages) and in romanised
Hindi; Hindi function words are not names."""

from __future__ import annotations

import pytest

from curation.pii.analyzer import PiiEngine
from curation.pii.engine import PiiConfig, get_engine


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return get_engine()


def found(engine: PiiEngine, text: str) -> dict[str, str]:
    return {d.text: d.entity_type for d in engine.analyze_texts([text], PiiConfig())[0]}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我叫王小明，我的订单一直没有发货。", "王小明"),
        ("你好，张伟先生，请问有什么可以帮您？", "张伟"),
        ("我和妈妈刘秀英一起去的。", "刘秀英"),
        ('{"patient_name": "陈建国"}', "陈建国"),
        ("我的朋友司马文静下周来取货。", "司马文静"),
        ("订单是玛丽娅·彼得罗娃下的，她明天到。", "玛丽娅·彼得罗娃"),
        ("刘建平医生明天坐诊吗？", "刘建平"),
        ("赵立新律师已经收到材料。", "赵立新"),
    ],
)
def test_chinese_script_names_are_persons(engine: PiiEngine, text: str, name: str) -> None:
    assert found(engine, text).get(name) == "PERSON"


def test_a_phone_after_a_chinese_cue_is_found(engine: PiiEngine) -> None:
    assert found(engine, "电话13812345678")["13812345678"] == "PHONE_NUMBER"


@pytest.mark.parametrize(
    "text",
    [
        "华为手机和小米手机哪个好？",
        "麻烦尽快处理，谢谢！",
        "北京到上海要几天？",
        "用支付宝付款可以吗？",
        "比亚迪的车保修几年？",
        "周末去莫愁湖走走。",
        "参加中国·杭州国际马拉松需要报名吗？",
        "表格里姓名的中间要空格吗？",
        "我对于算命先生没兴趣。",
        "东方明珠几点关门？",
    ],
)
def test_chinese_brands_places_and_courtesies_are_not_persons(engine: PiiEngine, text: str) -> None:
    assert found(engine, text) == {}


def test_a_romanised_hindi_introduction_names_a_person(engine: PiiEngine) -> None:
    assert found(engine, "mera naam Rohan Sharma hai, jaldi karo")["Rohan Sharma"] == "PERSON"


@pytest.mark.parametrize("text", ["Kya? 24 hours?? itna late kyu bhai?", "Bilkul, theek hai yaar"])
def test_hindi_function_words_are_not_names(engine: PiiEngine, text: str) -> None:
    assert found(engine, text) == {}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("मेरा नाम अमित शर्मा है और मेरा ऑर्डर नहीं आया।", "अमित शर्मा"),
        ("नाम: प्रिया वर्मा, फोन नीचे है", "प्रिया वर्मा"),
        ("कल अमित शर्मा ने फोन किया था।", "अमित शर्मा"),
        ("शर्मा जी, आपका रिफंड हो गया है।", "शर्मा"),
        ("Order mere bhai श्री राजेश कुमार ke naam pe hai", "राजेश कुमार"),
    ],
)
def test_devanagari_names_are_persons_in_any_message(
    engine: PiiEngine, text: str, name: str
) -> None:
    assert found(engine, text).get(name) == "PERSON"


@pytest.mark.parametrize(
    "text",
    ["आपका नाम क्या है?", "कृपया अपना नाम बताएं", "मैं अमर प्रेम की कहानी पढ़ रहा हूँ।"],
)
def test_devanagari_questions_and_everyday_words_are_not_names(
    engine: PiiEngine, text: str
) -> None:
    assert found(engine, text) == {}
