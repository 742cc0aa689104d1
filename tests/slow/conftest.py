"""The slow tier: long encodes and whole-pipeline runs, selected with `-m slow` (CI runs `-m "not slow"`).

Every test in this folder is marked slow here, so a test is made slow by where it lives, as PySceneDetect keeps
its release tests apart in tests/release/.
"""
import pytest


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.slow)
