"""plan_clips in scenes mode leaves gradual transitions out: clip edges move off the transition, onto the frame grid."""
from codeckit.normalize.clips import plan_clips
from codeckit.normalize.profile import ClipRules


def test_a_transition_is_trimmed_and_its_edges_move_away_from_it_on_the_frame_grid():
    rules = ClipRules(mode="scenes", min_length_s=0.5, max_length_s=10)
    clips = plan_clips(6.0, rules, fps=24, scene_times=[1.0, 3.1], gaps=[(2.01, 3.49)])
    # 2.01 s floors to frame 48 (2.0 s), 3.49 s ceils to frame 84 (3.5 s); the cut at 3.1 s is inside the gap
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 1.0), (1.0, 2.0), (3.5, 6.0)]


def test_a_piece_left_shorter_than_min_length_by_a_transition_is_dropped():
    rules = ClipRules(mode="scenes", min_length_s=1.0, max_length_s=10)
    clips = plan_clips(4.0, rules, fps=24, scene_times=[], gaps=[(0.5, 1.5)])
    assert [(c.start_s, c.end_s) for c in clips] == [(1.5, 4.0)]
