import json
import re
from collections import Counter

from skugraph.sample.generate import CATALOGUE, generate


def test_shipped_catalogue_is_what_the_generator_writes():
    shipped = [json.loads(line) for line in CATALOGUE.read_text("utf-8").splitlines()]
    assert shipped == generate()


def test_catalogue_has_what_the_demo_and_tests_need():
    records = generate()
    assert 250 <= len(records) <= 1000
    assert len({r["id"] for r in records}) == len(records)
    top_categories = Counter(r["category"].split(" > ")[0] for r in records)
    assert len(top_categories) >= 8
    english = [r for r in records if not re.search(r"[\u4e00-\u9fff]", r["title"])]
    assert 10 <= len(english) <= len(records) // 5, "mostly Chinese, some English"
    assert sum(bool(r["reviews"]) for r in records) > len(records) // 2
    assert all(r["description"] for r in records)
