"""How many frames an output may be off by: loose for a transcode, none for an exact clip (a copy: 5 %)."""
from codeckit.verify import frames_tolerance


def test_transcode_tolerances_are_unchanged():
    assert frames_tolerance(120, True) == 2 and frames_tolerance(1000, True) == 10
    assert frames_tolerance(20, False) == 3 and frames_tolerance(1000, False) == 50


def test_an_exact_clip_allows_no_frame_and_a_copied_one_five_percent():
    assert frames_tolerance(120, True, conform=True) == 0
    assert frames_tolerance(120, False, conform=True) == 6
    assert frames_tolerance(20, False, conform=True) == 2
