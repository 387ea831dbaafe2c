"""scripts/views.py — the `make lint` check that keeps views short."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "views.py")


def _module():
    spec = importlib.util.spec_from_file_location("views_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_views_are_found_and_counted_without_their_docstring(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(16))
    source = textwrap.dedent(
        '''
        from flask.views import MethodView

        @bp.get("/a")
        def long_view():
            """A docstring
            on two lines."""
        {body}
            return x0

        @bp.route("/b")
        class Thing(MethodView):
            def get(self):
                """Short."""
                return 1

            def _helper(self):
                return 2

        def not_a_view():
        {body}
        '''
    ).replace("{body}", body)
    path = tmp_path / "sample.py"
    path.write_text(source, encoding="utf-8")
    found = {name: n for name, _line, n in _module().views_of(str(path))}
    assert found == {"long_view": 17, "Thing.get": 1}


def test_the_project_passes_the_check():
    done = subprocess.run(
        [sys.executable, SCRIPT, "--top", "3"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "views; the longest (limit 15 lines of body)" in done.stdout
