"""Scenario packs (独居老人关怀, 城市内涝, 燃气管网安全, 高楼消防风险码) as data: indicators, rules,
simulators."""
