"""Tests of dispatch, and a factory of synthetic citizen reports (the real data sets may not be copied here).

Each category has its own problem phrases; places, openings and closings are shared by all categories, so
the phrases are the only signal and a model that learns them classifies new reports correctly.
"""

from __future__ import annotations

import random

PHRASES: dict[str, list[str]] = {
    "城乡建设": ["路灯不亮", "井盖缺失", "违章建筑", "道路破损", "小区电梯故障", "燃气管道老化"],
    "环境保护": [
        "夜间施工噪音",
        "餐馆油烟扰民",
        "河道污水直排",
        "工厂废气刺鼻",
        "垃圾焚烧冒黑烟",
        "渣土扬尘严重",
    ],
    "交通运输": ["公交车不停站", "出租车拒载", "红绿灯故障", "占道违章停车", "地铁站拥挤", "长途客车超载"],
    "教育文体": [
        "学校违规补课",
        "幼儿园乱收费",
        "教师体罚学生",
        "体育馆不开放",
        "图书馆座位不足",
        "学区划分不公",
    ],
}
PLACES = ["香港中路", "市南区八大湖街道", "李沧区书院路", "崂山区海尔路", "黄岛区长江路", "城阳区正阳路"]
OPENINGS = ["市民来电反映：", "您好，", "我是附近居民，", "网友留言：", ""]
CLOSINGS = ["，请相关部门尽快处理。", "，已经持续一周了，希望解决。", "，多次反映无果。", "。谢谢！", ""]


def synthetic_reports(per_category: int, seed: int) -> tuple[list[str], list[str]]:
    """``per_category`` reports for each category, shuffled: (texts, labels)."""
    rng = random.Random(seed)
    rows = [
        (f"{rng.choice(OPENINGS)}{rng.choice(PLACES)}{rng.choice(phrases)}{rng.choice(CLOSINGS)}", label)
        for label, phrases in PHRASES.items()
        for _ in range(per_category)
    ]
    rng.shuffle(rows)
    return [text for text, _ in rows], [label for _, label in rows]
