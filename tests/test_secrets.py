"""`Corpus.secrets()`: the CLI's records as a pyarrow Table, masked unless asked."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import Runner, _tar, _zip  # noqa: E402

GHP = "ghp_R8x2Lq9ZkT4vWb7NcY1mHs6PdJ3fGa0eUuKo"


@pytest.fixture(scope="module")
def corpus(binary, tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    src = root / "in"
    src.mkdir()
    cfg = ("GITHUB_TOKEN = '%s'\n" % GHP).encode()
    (src / "leaky-1.0.tar.gz").write_bytes(_tar([("file", "leaky-1.0/leaky/config.py", cfg), ("file", "leaky-1.0/tests/conf.py", cfg)]))
    (src / "leaky-1.0-py3-none-any.whl").write_bytes(_zip([("file", "leaky/config.py", cfg)]))
    r = Runner(binary, str(root / "corpus"))
    r.run("init")
    r.run("add", str(src))
    r.run("seal")
    return r, str(root / "corpus"), root


def test_the_table_holds_the_clis_records(corpus):
    pycorpus = pytest.importorskip("pycorpus")
    r, c, root = corpus
    t = pycorpus.Corpus(c).secrets()
    cli = [json.loads(x) for x in r.run("secrets", "--format", "jsonl").stdout.splitlines()]
    assert t.num_rows == len(cli) == 3
    assert t.column_names == list(cli[0].keys())
    assert t.to_pylist() == cli
    assert set(t.column("secret").to_pylist()) == {"ghp_****************"}
    assert sorted(t.column("context").to_pylist()) == ["", "", "test"]
    assert set(pycorpus.Corpus(c).secrets(show_secrets=True).column("secret").to_pylist()) == {GHP}
    assert pycorpus.Corpus(c).secrets(dist_type="wheel").num_rows == 1
    bad = root / "bad.toml"
    bad.write_text("[[rules]]\nid = 'broken'\nregex = '''(unclosed'''\n")
    with pytest.raises(Exception, match="rule broken"):
        pycorpus.Corpus(c).secrets(rules=bad)
    with pytest.raises(TypeError):
        pycorpus.Corpus(c).secrets(colour=1)
