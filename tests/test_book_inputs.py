"""`jupyter-book build .` on a fresh clone: the book_inputs extension fetches the
vendored JavaScript or stops naming the command, and empties a jupyter-cache
whose outputs were computed from another mqlb (scripts/book_inputs.py).

Cheap: the extension's functions run on small temporary folders; the full
build is tests/test_book_build.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import book_inputs  # noqa: E402


def a_book(tmp_path: Path, vendor_script: str) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "vendor_assets.sh").write_text(vendor_script)
    (tmp_path / "mqlb").mkdir()
    (tmp_path / "mqlb" / "model.py").write_text("RATE = 1.0\n")
    return tmp_path


def test_the_extension_is_registered_in_the_book_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["book_inputs"] == "scripts/"


def test_missing_javascript_is_fetched(tmp_path):
    root = a_book(tmp_path, 'mkdir -p book_assets/vendor && echo "fetched" > book_assets/vendor/require.js\n')
    assert not (root / "book_assets" / "vendor").exists()
    book_inputs.ensure_vendor_assets(root)
    assert (root / "book_assets" / "vendor" / "require.js").read_text() == "fetched\n"


def test_a_failed_fetch_stops_the_build_naming_the_command(tmp_path):
    root = a_book(tmp_path, 'echo "vendor_assets: npm is needed" >&2; exit 1\n')
    with pytest.raises(ExtensionError) as error:
        book_inputs.ensure_vendor_assets(root)
    message = str(error.value)
    assert "bash scripts/vendor_assets.sh" in message and "make vendor" in message
    assert "npm is needed" in message            # the script's own reason is shown


def test_the_real_vendor_script_is_what_the_extension_runs():
    assert (ROOT / "scripts" / "vendor_assets.sh").exists()
    assert book_inputs.VENDOR_COMMAND == "bash scripts/vendor_assets.sh"


def test_an_edit_to_mqlb_empties_the_cache_and_nothing_else_does(tmp_path):
    root = a_book(tmp_path, "exit 0\n")
    cache = root / "_build" / ".jupyter_cache"
    (cache / "executed").mkdir(parents=True)
    book_inputs.write_stamp(cache, root)
    assert not book_inputs.invalidate_stale_cache(cache, root)          # unchanged: kept
    assert (cache / "executed").exists()
    (root / "mqlb" / "__pycache__").mkdir()
    (root / "mqlb" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    assert not book_inputs.invalidate_stale_cache(cache, root)          # compiled files do not count
    (root / "mqlb" / "model.py").write_text("RATE = 2.0\n")
    assert book_inputs.invalidate_stale_cache(cache, root)              # edited: emptied
    assert not cache.exists()


def test_a_cache_of_unknown_origin_is_emptied(tmp_path):
    root = a_book(tmp_path, "exit 0\n")
    cache = root / "_build" / ".jupyter_cache"
    cache.mkdir(parents=True)
    assert book_inputs.invalidate_stale_cache(cache, root)
    assert not cache.exists()


def test_every_page_is_read_again_after_an_edit():
    env = SimpleNamespace(found_docs={"intro", "chapters/02", "chapters/03"}, book_inputs_changed=True)
    assert book_inputs._on_env_get_outdated(None, env, {"intro"}, set(), set()) == ["chapters/02", "chapters/03"]
    env.book_inputs_changed = False
    assert book_inputs._on_env_get_outdated(None, env, set(), set(), set()) == []


def test_the_hash_covers_the_model_package():
    assert "mqlb" in book_inputs.WATCHED
    assert book_inputs.inputs_hash(ROOT) == book_inputs.inputs_hash(ROOT)


def test_any_build_switches_the_static_explorers_on_and_publishes_their_states(tmp_path, monkeypatch):
    """`jupyter-book build .` gets the same explorers as `make book`: the kernels it
    starts draw the static states, and the states land next to the pages."""
    for name in (book_inputs.STATIC_ENV, book_inputs.CACHE_ENV):
        monkeypatch.setenv(name, "")        # recorded, so the variable is removed again afterwards
        monkeypatch.delenv(name)
    states = book_inputs.use_static_explorers(tmp_path / "_build", tmp_path)
    assert states == tmp_path / "_build" / "explorer-states"
    assert book_inputs.os.environ[book_inputs.STATIC_ENV] == str(states)
    assert book_inputs.os.environ[book_inputs.CACHE_ENV] == str(tmp_path / ".explorer-cache")
    monkeypatch.setenv(book_inputs.STATIC_ENV, str(tmp_path / "chosen"))     # make book's choice is kept
    assert book_inputs.use_static_explorers(tmp_path / "_build", tmp_path) == tmp_path / "chosen"
    (tmp_path / "chosen" / "02").mkdir(parents=True)
    (tmp_path / "chosen" / "02" / "state.png").write_bytes(b"png")
    book_inputs.publish_states(tmp_path / "chosen", tmp_path / "_build" / "html")
    assert (tmp_path / "_build" / "html" / "_static" / "explorers" / "02" / "state.png").read_bytes() == b"png"
