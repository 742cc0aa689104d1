"""What a command pays before it starts: no rich for a --json run that prints nothing on stderr, and no
`ffmpeg -version` check of imageio-ffmpeg's binary once build_info's cache knows that exact file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from codeckit.demo_media import lavfi_clip
from codeckit.ffmpeg_build import FFMPEG_ENV


def _python(code: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in (env or os.environ).items() if k != FFMPEG_ENV}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          **kwargs)


def test_normalize_json_that_prints_no_warning_does_not_import_rich(tmp_path):
    (tmp_path / "src").mkdir()
    lavfi_clip(tmp_path / "src" / "a.mp4", size="160x120", duration=1.0)
    code = ("import sys\nfrom codeckit.cli import main\n"
            f"try:\n    main(['normalize', {str(tmp_path / 'src')!r}, '-o', {str(tmp_path / 'out')!r}, '--json'])\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print(code, sorted(m for m in sys.modules if m.split('.')[0] == 'rich'), file=sys.stderr)")
    r = _python(code)
    assert json.loads(r.stdout)["clips_out"] == 1, r.stderr
    assert r.stderr.strip() == "0 []"


def test_rich_still_renders_the_warning_of_a_json_run(tmp_path):
    (tmp_path / "empty").mkdir()
    r = _python("from codeckit.cli import main\n"
                f"main(['normalize', {str(tmp_path / 'empty')!r}, '-o', {str(tmp_path / 'out')!r}, '--json'])")
    assert r.returncode == 3 and json.loads(r.stdout)["nothing_usable"] is True
    assert r.stderr.startswith("warning: ") and "no video under this folder" in r.stderr


def test_the_bundled_binary_is_taken_without_a_check_only_once_its_build_is_cached(tmp_path):
    code = ("import imageio_ffmpeg\nfrom codeckit.ffmpeg_build import _known_bundled_exe, build_info, ffmpeg_exe\n"
            "print(_known_bundled_exe())\nbuild_info()\n"
            "print(_known_bundled_exe() == imageio_ffmpeg.get_ffmpeg_exe() == ffmpeg_exe())")
    env = dict(os.environ, CODECKIT_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("IMAGEIO_FFMPEG_EXE", None)
    r = _python(code, env)
    assert r.stdout.split() == ["None", "True"], r.stderr
    # imageio's own override is its choice, unchecked: not second-guessed by the cache
    r = _python("from codeckit.ffmpeg_build import _known_bundled_exe\nprint(_known_bundled_exe())",
                dict(env, IMAGEIO_FFMPEG_EXE="/bin/true"))
    assert r.stdout.split() == ["None"], r.stderr
