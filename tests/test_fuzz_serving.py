"""Every serving signature of every app, fuzzed against its exported SavedModel (issue 12).

A bounded run of `benchmarks/fuzz_serving.py` (which runs >= 1,000 inputs
per signature): each signature gets a few hundred generated inputs, mostly
ones that must be refused, served by a worker process without dlkeras, so
a crash fails the test instead of killing pytest. The contract: no crash,
no silent wrong answer, and every refusal says what is wrong.
"""
import pytest

from benchmarks import fuzz_serving

from test_image_support import tiny_backbone

CASES = 300


@pytest.fixture(scope="module")
def fuzzed():
    signatures = fuzz_serving.all_signatures(tiny_backbone(seed=2))
    # The multi-label text model differs in its outputs only: the benchmark fuzzes it.
    signatures = [s for s in signatures if s.app != "text_multi_label"]
    return fuzz_serving.fuzz(signatures, CASES, seed=7)


@pytest.mark.parametrize("signature", ["tabular/serving_default", "image/serving_default",
                                       "image/serve_pixels", "recommender/predict",
                                       "recommender/recommend", "text/serving_default"])
def test_no_crash_no_silent_wrong_answer_no_unclear_error(fuzzed, signature):
    tables, details, examples = fuzzed
    counts = tables["tensors"][signature]
    bad = {category: counts[category] for category in ("unclear", "silent", "crash")}
    shown = {category: why for (key, category), why in examples.items() if key == signature}
    assert bad == {"unclear": 0, "silent": 0, "crash": 0}, shown
    assert sum(counts.values()) == CASES
    assert counts["clean"] >= 100 and counts["valid"] >= 50  # both sides were exercised
