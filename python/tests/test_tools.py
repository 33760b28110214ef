"""Metadata out and in without touching tensors: qtf-inspect --extract and
qtf-edit, checked through the Python reader."""
import os
import shutil

import pytest

import qtf
from conftest import run, tool


@pytest.fixture()
def qfile(sample, tmp_path):
    q = tmp_path / "m.qtf"
    run(tool("qtf-convert"), sample, q, "-e", "int4:group=32", "-q")
    return q


def data_region(path):
    with qtf.safe_open(path, "np") as f:
        infos = [f.info(k) for k in f.keys()]
    lo = min(p["offset"] for i in infos for p in i["parts"])
    hi = max(p["offset"] + p["stored_size"] for i in infos for p in i["parts"])
    return path.read_bytes()[lo:hi], {i["name"]: i["checksum"] for i in infos}


def test_extract_blob_and_string(qfile, sample, tmp_path):
    r = run(tool("qtf-inspect"), qfile, "--extract", "hf.file.tokenizer.json")
    assert r.stdout.encode() == (sample / "tokenizer.json").read_bytes()
    out = tmp_path / "cfg.json"
    run(tool("qtf-inspect"), qfile, "-x", "hf.file.config.json", "-o", out)
    assert out.read_bytes() == (sample / "config.json").read_bytes()
    assert run(tool("qtf-inspect"), qfile, "-x", "qtf.converter").stdout.startswith(
        "qtf-convert")
    r = run(tool("qtf-inspect"), qfile, "-x", "hf.config.hidden_size", check=False)
    assert r.returncode == 1 and "is a i64" in r.stderr and r.stdout == ""
    r = run(tool("qtf-inspect"), qfile, "-x", "no.such.key", check=False)
    assert r.returncode == 1 and "no metadata key 'no.such.key'" in r.stderr
    r = run(tool("qtf-inspect"), qfile, "-o", out, check=False)
    assert r.returncode == 2
    r = run(tool("qtf-inspect"), qfile, "-x", "qtf.converter", "--json", check=False)
    assert r.returncode == 2


def test_edit_sets_replaces_deletes_without_touching_tensors(qfile, tmp_path):
    data_before, sums_before = data_region(qfile)
    extra = tmp_path / "notes.txt"
    extra.write_bytes(b"line one\nline two\n")
    blob = tmp_path / "b.bin"
    blob.write_bytes(bytes(range(256)))
    with qtf.safe_open(qfile, "np") as f:
        order = list(f.metadata())
    run(tool("qtf-edit"), qfile, "-s", "note=héllo", "--set-int", "n=-3", "--set-int",
        f"big={2**64 - 1}", "--set-float", "x=0.25", "--set-bool", "ok=false", "--embed", extra,
        "--media-type", "application/x-test", "--set-blob", f"raw={blob}",
        "-s", "hf.config.model_type=mistral", "-d", "hf.config.vocab_size", "-q")
    with qtf.safe_open(qfile, "np") as f:
        md, types = f.metadata(), f.metadata_types()
    assert md["note"] == "héllo" and md["n"] == -3 and md["big"] == 2**64 - 1
    assert md["x"] == 0.25 and md["ok"] is False
    assert md["hf.file.notes.txt"] == extra.read_bytes()
    assert types["hf.file.notes.txt"] == "blob:text/plain; charset=utf-8"
    assert md["raw"] == blob.read_bytes() and types["raw"] == "blob:application/x-test"
    assert md["hf.config.model_type"] == "mistral" and "hf.config.vocab_size" not in md
    # replaced keys keep their place, new ones are appended
    kept = [k for k in order if k != "hf.config.vocab_size"]
    assert list(md)[:len(kept)] == kept
    data_after, sums_after = data_region(qfile)
    assert data_after == data_before and sums_after == sums_before
    assert qtf.verify(qfile)["ok"]
    # the embedded file comes back with the folder
    out = tmp_path / "hf"
    run(tool("qtf-convert"), qfile, f"{out}/", "-q")
    assert (out / "notes.txt").read_bytes() == extra.read_bytes()


def test_edit_refuses_and_leaves_the_file_alone(qfile, tmp_path):
    before = qfile.read_bytes()
    cases = [
        (["-s", "general.name=x"], 2, "reserved"),
        (["-d", "qtf.recipe"], 2, "reserved"),
        (["-d", "nope"], 1, "no such key"),
        (["-f", "--set-int", "general.name=3"], 1, "must be string, found i64"),
        (["--set-int", "n=12x"], 2, "not a valid value"),
        (["--set-bool", "b=yes"], 2, "not a valid value"),
        (["--set-blob", f"k={tmp_path}/missing"], 1, "cannot read"),
        (["-s", "a=1", "-d", "a"], 2, "given twice"),
        ([], 2, "nothing to do"),
    ]
    for args, code, text in cases:
        r = run(tool("qtf-edit"), qfile, *args, check=False)
        assert r.returncode == code and text in r.stderr, (args, r.returncode, r.stderr)
        assert qfile.read_bytes() == before, args
    assert not [n for n in os.listdir(qfile.parent) if "tmp" in n]
    # --force allows a reserved key with its documented type
    run(tool("qtf-edit"), qfile, "-f", "-s", "general.name=renamed", "-q")
    assert run(tool("qtf-inspect"), qfile, "-x", "general.name").stdout == "renamed"
    # -o writes elsewhere and leaves the original as it was
    copy = tmp_path / "copy.qtf"
    shutil.copy(qfile, copy)
    other = tmp_path / "other.qtf"
    run(tool("qtf-edit"), copy, "-s", "k=v", "-o", other, "-q")
    assert copy.read_bytes() == qfile.read_bytes()
    with qtf.safe_open(other, "np") as f:
        assert f.metadata()["k"] == "v"
    bad = tmp_path / "bad.qtf"
    bad.write_bytes(b"junk")
    r = run(tool("qtf-edit"), bad, "-s", "k=v", check=False)
    assert r.returncode == 2 and bad.read_bytes() == b"junk"


def test_edit_in_place_keeps_inode_and_data_and_equals_the_copy(qfile, tmp_path):
    """In place: same inode, tensor bytes identical, and the result is byte for
    byte what the copy-and-rename path writes (the canonical layout)."""
    data_before, sums_before = data_region(qfile)
    ino = os.stat(qfile).st_ino
    orig = tmp_path / "orig.qtf"
    shutil.copy(qfile, orig)
    cfg = tmp_path / "config.json"
    cfg.write_bytes(b'{"edited": true}\n')
    args = ["-s", "note=in place", "--embed", cfg, "-d", "qtf.recipe", "-f"]
    r = run(tool("qtf-edit"), qfile, *args)
    assert "edited in place" in r.stderr
    assert os.stat(qfile).st_ino == ino
    assert data_region(qfile) == (data_before, sums_before)
    ref = tmp_path / "ref.qtf"
    r = run(tool("qtf-edit"), orig, *args, "-o", ref)
    assert "copied and renamed" in r.stderr
    assert qfile.read_bytes() == ref.read_bytes()
    assert run(tool("qtf-verify"), qfile).returncode == 0
    with qtf.safe_open(qfile, "np") as f:
        m = f.metadata()
        assert m["note"] == "in place" and m["hf.file.config.json"] == cfg.read_bytes()
        assert "qtf.recipe" not in m
        assert qtf.verify(qfile)["ok"]
    del f  # its mapping lives as long as the object (views may outlive close())
    # a metadata section that shrinks: the file is truncated after it
    size = os.path.getsize(qfile)
    run(tool("qtf-edit"), qfile, "-d", "hf.file.tokenizer.json", "-q")
    assert os.path.getsize(qfile) < size and os.stat(qfile).st_ino == ino
    assert data_region(qfile) == (data_before, sums_before)
    assert run(tool("qtf-verify"), qfile).returncode == 0


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6, 7])
def test_edit_in_place_crash_at_every_step_leaves_a_valid_file(qfile, tmp_path, step):
    """QTF_EDIT_CRASH_AFTER=N kills qtf-edit right after step N: the file opens
    and verifies, with the old metadata before the commit (step 3) and the
    new one from it on; --finish then gives the canonical file."""
    orig = tmp_path / "orig.qtf"
    shutil.copy(qfile, orig)
    new = tmp_path / "new.qtf"
    run(tool("qtf-edit"), orig, "-s", "note=after", "-o", new, "-q")
    data_before, sums_before = data_region(qfile)
    r = run(tool("qtf-edit"), qfile, "-s", "note=after", "-q", check=False,
            env_extra={"QTF_EDIT_CRASH_AFTER": str(step)})
    assert r.returncode == 70, r.stderr
    assert run(tool("qtf-verify"), qfile).returncode == 0
    with qtf.safe_open(qfile, "np") as f:
        assert f.metadata().get("note") == (None if step < 3 else "after")
        assert [f.info(k)["checksum"] for k in f.keys()] == list(sums_before.values())
        assert f._f.header["tensor_count"] == len(sums_before)
    del f
    with open(qfile, "rb") as fp:
        editing = int.from_bytes(fp.read(24)[20:24], "little") & 1
    assert editing == (step < 7)
    run(tool("qtf-edit"), qfile, "--finish", "-q")
    assert qfile.read_bytes() == (orig if step < 3 else new).read_bytes()


def test_edit_falls_back_to_copy_when_the_file_is_open(qfile):
    """A process holding the file mapped must not see it change under it: the
    in-place edit is refused (no write lease) and the copy replaces the file."""
    ino = os.stat(qfile).st_ino
    with qtf.safe_open(qfile, "np") as f:
        r = run(tool("qtf-edit"), qfile, "-s", "note=copied")
        assert "not in place (another process has it open or mapped)" in r.stderr
        assert "note" not in f.metadata()  # the reader keeps the old file
    assert os.stat(qfile).st_ino != ino
    with qtf.safe_open(qfile, "np") as f:
        assert f.metadata()["note"] == "copied"
    r = run(tool("qtf-edit"), qfile, "--copy", "-s", "note=again")
    assert "not in place (--copy)" in r.stderr
