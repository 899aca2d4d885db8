"""The README and docs/ stand alone; the built-in corpus has no drawings; the text evolution
takes a range."""
from __future__ import annotations

import os
import re

import pytest

from fastrnn.checkpoint import load_state
from .clitools import run

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as fh:
        return fh.read()


def test_readme_stands_alone():
    readme = _read("README.md")
    assert "DESIGN.md" not in readme
    for line in readme.splitlines():          # ../shared only as the tests' team workspace
        if "../shared" in line:
            assert "team's workspace" in line, line
    for link in re.findall(r"\]\(((?:docs|data)/[^)]+)\)", readme):
        assert os.path.exists(os.path.join(ROOT, link)), link
    for name in ("algorithm.md", "checkpoint-format.md", "validation.md"):
        assert f"docs/{name}" in readme
        assert "DESIGN.md" not in _read("docs", name) and "../shared" not in _read("docs", name)


def test_readme_says_where_every_example_corpus_comes_from():
    readme = _read("README.md")
    code = "\n".join(re.findall(r"```bash\n(.*?)```", readme, re.S))
    texts = set(re.findall(r"fastrnn (?:train|gradcheck) (\S+)", code))
    texts |= {t for t in re.findall(r"fastrnn (?:eval|report) \S+ (\S+)", code)
              if not t.startswith("-")}
    assert texts, "no examples found"
    made = set(re.findall(r"open\('([^']+)', 'w'\)", code))    # cut from a corpus by the README
    for text in texts:
        if text.startswith(("builtin:", "data/", "-")) or text in made:
            continue
        assert text in ("tinyshakespeare.txt", "goblet_book.txt"), text
    assert "raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt" \
        in readme
    assert "goblet_book.txt" in readme and "Canvas" in readme


def test_docs_give_the_defaults_of_the_config():
    from fastrnn.config import TrainConfig

    algo = _read("docs", "algorithm.md")
    cfg = TrainConfig()
    for opt, value in (("--hidden", cfg.hidden), ("--seq-length", cfg.seq_length),
                       ("--eta", cfg.eta), ("--sig", cfg.sig), ("--epochs", cfg.epochs),
                       ("--sample-every", cfg.sample_every)):
        assert re.search(rf"`{opt}` \| {value:g} \|", algo), opt
    assert "U+241E" in algo
    fmt = _read("docs", "checkpoint-format.md")
    from fastrnn.checkpoint import FORMAT_VERSION

    assert f"format version {FORMAT_VERSION}" in fmt.lower()


def test_builtin_corpus_has_no_table_drawings():
    from fastrnn.data import builtin_text

    lines = builtin_text().splitlines()
    assert not [line for line in lines if re.fullmatch(r"\s*\+[-=+]+\+\s*", line)]
    assert not [line for line in lines if re.fullmatch(r"\s*([=\-])\1{2,}\s*", line)]
    assert len("\n".join(lines)) > 400_000


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    from fastrnn.data import builtin_text

    d = tmp_path_factory.mktemp("evo")
    (d / "t.txt").write_text(builtin_text()[:8000], encoding="utf-8")
    out = d / "e.h5"
    run("train", d / "t.txt", "-o", out, "--hidden", 8, "--max-updates", 700,
        "--epochs", 10, "--sample-every", 100, "--sample-length", 20, "-q")
    return out


def test_evolution_takes_a_range(sampled):
    out = run("evolution", sampled, "--until", 300).output
    headers = re.findall(r"--- update ([\d,]+),", out)
    assert headers == ["0", "100", "200", "300"]
    out = run("evolution", sampled, "--every", 200, "--until", 500).output
    assert re.findall(r"--- update ([\d,]+),", out) == ["0", "200", "400"]


def test_report_evolution_takes_a_range(sampled, tmp_path):
    run("report", sampled, "-o", tmp_path / "r", "--until", 200, "-n", 20)
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    evolution = md[md.index("## 4. Text evolution"):md.index("## 5.")]
    assert re.findall(r"\*\*Update ([\d,]+)\*\*", evolution) == ["0", "100", "200"]
    assert "4 more samples" in evolution
    assert len(load_state(str(sampled)).samples) == 7


def test_report_defaults_to_the_assignments_first_100000_updates():
    from fastrnn.config import ReportConfig

    assert ReportConfig().evolution_until == 100_000


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    """The README's Python API block is run as written (in a scratch directory): every name it
    uses exists and every call works."""
    block = re.search(r"### Python API\n```python\n(.*?)```", _read("README.md"), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, "README.md (Python API)", "exec"), scope)
    assert (tmp_path / "api.h5").exists() and (tmp_path / "lstm.h5").exists()
    assert scope["m"].cell == "lstm" and scope["m"].layers == 2
    assert 0 < scope["m"].evaluate("To be, or not to be").nats < 5
