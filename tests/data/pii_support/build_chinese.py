# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""How ``chinese_dev.jsonl`` and ``chinese_holdout.jsonl`` were made (kept for provenance).

Chinese support-chat sentences written for this project (no public labelled set of Chinese
support chat with a permissive licence was found), each with one planted name drawn by
Faker's zh_CN provider (seed 26), plus ordinary sentences without any name (products, places,
companies). Same row format as the support conversations: one message per conversation. The
split is by a hash of the text, made before the Chinese rules were written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from faker import Faker

HERE = Path(__file__).resolve().parent

TEMPLATES = [
    "我叫{n}，我的订单一直没有发货。",
    "你好，我是{n}，想查询一下退款进度。",
    "收件人：{n}，请尽快安排配送。",
    "姓名：{n}，手机号已经发给你们了。",
    "麻烦转告{n}，明天上午十点来取件。",
    "{n}先生您好，您的包裹已经签收。",
    "请问是{n}女士吗？您的预约已确认。",
    "我妈妈{n}的账户被冻结了，怎么办？",
    "快递员说{n}不在家，所以没送到。",
    "这张发票的抬头写{n}就可以。",
    "昨天{n}帮我下的单，地址没有问题。",
    "我的名字是{n}，会员卡号我忘记了。",
    "联系人：{n}，工作日都可以联系。",
    "{n}，你好！你的投诉我们已经收到了。",
    "请把合同寄给{n}，谢谢。",
    "我同事{n}也遇到了同样的问题。",
    "患者姓名：{n}，需要预约下周的复诊。",
    "老师您好，我是{n}的家长。",
    "感谢{n}经理的耐心解答。",
    "这个账号是我爸爸{n}注册的。",
]
ORDINARY = [
    "我的订单显示已发货，但是物流信息三天没有更新了。",
    "这款华为手机支持无线充电吗？",
    "请问北京到上海的快递一般需要几天？",
    "退货流程是什么？需要保留原包装吗？",
    "小米的扫地机器人和石头的哪个更好用？",
    "我想把收货地址改成公司地址，可以吗？",
    "优惠券为什么用不了？显示已过期。",
    "你们的客服工作时间是几点到几点？",
    "商品收到了，但是颜色和图片不一样。",
    "请帮我查一下这个月的账单明细。",
    "苹果手机的屏幕碎了，保修范围内吗？",
    "广州的天气太热了，空调什么时候能安装？",
    "京东和淘宝的价格差了两百块。",
    "会员积分可以兑换什么礼品？",
    "发票开好了吗？我需要报销。",
    "这个套餐每个月有多少流量？",
    "我在深圳，可以当天送达吗？",
    "请问支持花呗分期付款吗？",
    "产品说明书在哪里可以下载？",
    "微信支付失败了，钱已经扣了。",
    "这本书是鲁迅写的吗？",
    "长城和故宫哪个更值得去？",
    "我买的是三星电视，遥控器没反应。",
    "物流公司是顺丰还是中通？",
    "为什么我的账户被限制登录了？",
    "耳机只有左边有声音，可以换货吗？",
    "麻烦尽快处理，谢谢！",
    "好的，我明白了。",
    "请问还有其他问题吗？",
    "您好，很高兴为您服务。",
]


def holdout(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 2 == 1  # noqa: S324 - a split


def main() -> None:
    fake = Faker("zh_CN")
    fake.seed_instance(26)
    rows = []
    for round_ in range(3):
        for template in TEMPLATES:
            name = fake.name()
            text = template.format(n=name)
            start = text.index(name)
            span = {
                "entity_type": "PERSON_ZH",
                "start": start,
                "end": start + len(name),
                "value": name,
            }
            rows.append((text, [span], round_))
    rows.extend((text, [], 0) for text in ORDINARY)
    parts: dict[str, list[str]] = {"dev": [], "holdout": []}
    for text, spans, _ in rows:
        conversation = {
            "source": "written-zh",
            "id": hashlib.sha1(text.encode()).hexdigest()[:12],  # noqa: S324 - an id
            "region": "CN",
            "languages": ["zh"],
            "messages": [{"role": "user", "content": text, "spans": spans}],
        }
        parts["holdout" if holdout(text) else "dev"].append(
            json.dumps(conversation, ensure_ascii=False)
        )
    for part, lines in parts.items():
        (HERE / f"chinese_{part}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
