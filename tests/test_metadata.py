"""Licence and metadata: what someone picking the project up needs to find."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import mqlb

ROOT = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_once_and_the_citation_agrees():
    assert re.fullmatch(r"\d+\.\d+\.\d+", mqlb.__version__)
    project = pyproject()
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mqlb.__version__"}
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == mqlb.__version__


def test_licences_are_present_and_named_everywhere():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-book").read_text()
    assert pyproject()["project"]["license"] == "MIT"
    assert set(yaml.safe_load((ROOT / "CITATION.cff").read_text())["license"]) == {"MIT", "CC-BY-4.0"}
    readme = (ROOT / "README.md").read_text()
    assert "CC BY 4.0" in readme and "MIT" in readme
    footer = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer


def test_the_package_says_it_is_typed():
    assert (ROOT / "mqlb" / "py.typed").is_file()
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["mqlb"]
    assert "Typing :: Typed" in pyproject()["project"]["classifiers"]


def test_no_invented_addresses():
    """No project URLs until the project has a public home; the citation names
    the authors as the project does, with no repository or DOI made up."""
    assert "urls" not in pyproject()["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["authors"] == [{"name": "The mqlb authors"}]
    assert not {"url", "repository-code", "doi", "identifiers"} & set(citation)


def test_the_bibliography_parses_and_every_cited_key_is_in_it():
    """A broken entry stops the book build at its very start; a cited key that is missing is a dangling
    citation. Both are found here in a second, without a build."""
    from pybtex.database import parse_file

    keys = set(parse_file(ROOT / "references.bib").entries)
    cited = set()
    for page in (ROOT / "chapters").glob("*.md"):
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", page.read_text(encoding="utf-8")):
            cited.update(k.strip() for k in group.split(","))
    assert cited and not cited - keys, sorted(cited - keys)
