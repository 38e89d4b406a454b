"""The console's labels: each namespace has the same keys in 中文 and English, no label is
empty or left in English in the Chinese file, and every reason code the API can answer has a
label in both (the console translates refusals from their codes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pilotshare.core.errors import REASONS

LOCALES = Path(__file__).resolve().parents[2] / "src/pilotshare/api/console/src/locales"
NAMESPACES = sorted(p.stem for p in (LOCALES / "en").glob("*.json"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _load(lang: str, ns: str) -> dict[str, str]:
    data = json.loads((LOCALES / lang / f"{ns}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_both_languages_have_the_same_namespaces() -> None:
    assert NAMESPACES
    assert sorted(p.stem for p in (LOCALES / "zh").glob("*.json")) == NAMESPACES


@pytest.mark.parametrize("ns", NAMESPACES)
def test_a_namespace_says_the_same_things_in_both(ns: str) -> None:
    en, zh = _load("en", ns), _load("zh", ns)
    assert en.keys() == zh.keys(), (
        f"{ns}: only in en {en.keys() - zh.keys()}, only in zh {zh.keys() - en.keys()}"
    )
    for key in en:
        assert en[key].strip(), f"en {ns}.{key} is empty"
        assert zh[key].strip(), f"zh {ns}.{key} is empty"
        # the same placeholders, so a filled-in label never shows "{name}"
        assert set(PLACEHOLDER.findall(en[key])) == set(PLACEHOLDER.findall(zh[key])), f"{ns}.{key}"
        # a Chinese label holds Chinese (units and acronyms alone may be Latin)
        if re.search(r"[A-Za-z]{4,}", zh[key]) and not re.search(r"[\u4e00-\u9fff]", zh[key]):
            pytest.fail(f"{ns}.{key} is not translated: {zh[key]!r}")


def test_every_reason_code_has_a_label_in_both() -> None:
    codes = {r.code for r in REASONS}
    for lang in ("en", "zh"):
        labels = _load(lang, "reasons")
        assert codes <= labels.keys(), f"{lang}: no label for {sorted(codes - labels.keys())}"
