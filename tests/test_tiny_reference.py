"""The reference comparison itself: it reports a planted one-digit change, a missing and an extra file."""
from __future__ import annotations

import json

import pytest

from tiny_reference import (CROSS_CPU_TOL, REFERENCE, REFERENCES, best_match, cpu_kind, diff, metrics_files,
                            near, references, write)


def test_reference_exists_and_is_flat_numbers():
    ref = metrics_files(REFERENCE)
    assert "baseline.json" in ref and "detect.json" in ref, sorted(ref)
    for rel, text in ref.items():
        assert all(isinstance(v, (int, float)) for v in json.loads(text).values()), rel


def test_a_planted_one_digit_change_is_reported():
    ref = metrics_files(REFERENCE)
    got = dict(ref)
    doc = json.loads(got["baseline.json"])
    key = next(k for k, v in doc.items() if isinstance(v, float) and v not in (0.0, 1.0))
    text = got["baseline.json"]
    old = json.dumps(doc[key])
    digit = old[-1]
    planted = old[:-1] + ("1" if digit != "1" else "2")
    got["baseline.json"] = text.replace(old, planted, 1)
    assert got["baseline.json"] != text
    lines = diff(got, ref)
    assert len(lines) == 1 and lines[0].startswith(f"baseline.json: {key}: got ") and old in lines[0]
    del got["detect.json"]
    got["new.json"] = "{}"
    lines = diff(got, ref)
    assert "detect.json: missing (the reference has it)" in lines and "new.json: not in the reference" in lines
    assert diff(ref, ref) == []


@pytest.mark.parametrize("bad", ["{\"a\": 1.0}", "{\"a\": 1}"])
def test_formatting_only_differences_are_named(bad):
    assert diff({"x.json": bad}, {"x.json": "{\"a\":1.0}"}) != []


def test_a_cross_cpu_drift_within_the_tolerance_passes_and_is_listed():
    want = {"x.json": json.dumps({"mAP": 0.065933, "n_queries": 791})}
    drift = {"x.json": json.dumps({"mAP": 0.065854, "n_queries": 791})}
    assert diff(drift, want) != []                                  # exact: a difference
    assert diff(drift, want, tol=CROSS_CPU_TOL) == []               # within the tolerance
    assert near(drift, want, CROSS_CPU_TOL) == ["x.json: mAP: got 0.065854, reference 0.065933"]
    far = {"x.json": json.dumps({"mAP": 0.07, "n_queries": 791})}
    assert diff(far, want, tol=CROSS_CPU_TOL) != []
    count = {"x.json": json.dumps({"mAP": 0.065933, "n_queries": 790})}
    assert diff(count, want, tol=CROSS_CPU_TOL) != []               # counts are never near


def test_every_committed_reference_says_which_cpu_made_it():
    refs = references()
    assert "cpu-2026-11" in refs and len(refs) >= 2, sorted(refs)   # the old machine's and this one's
    for name in refs:
        assert (REFERENCES / name / "cpu.txt").is_file(), f"{name}: no cpu.txt"
        assert set(refs[name]) == set(refs["cpu-2026-11"]), f"{name}: not the same files as cpu-2026-11"


def test_a_run_passes_when_it_reproduces_any_one_reference_and_fails_against_none():
    a = {"x.json": json.dumps({"mAP": 0.0229, "n": 5})}
    b = {"x.json": json.dumps({"mAP": 0.0268, "n": 5})}
    refs = {"cpu-a": a, "cpu-b": b}
    assert best_match(b, refs, CROSS_CPU_TOL) == ("cpu-b", [])
    assert best_match(a, refs, CROSS_CPU_TOL) == ("cpu-a", [])
    moved = {"x.json": json.dumps({"mAP": 0.0300, "n": 5})}          # a code change: matches neither
    name, problems = best_match(moved, refs, CROSS_CPU_TOL)
    assert name in refs and problems == [f"x.json: mAP: got 0.03, reference {json.loads(refs[name]['x.json'])['mAP']}"]
    assert best_match(b, {}, CROSS_CPU_TOL)[1] != []                 # no reference at all: a failure


def test_write_keeps_the_other_kinds_references(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "m.json").write_text("{}")
    folder = write({"m.json": "{\"mAP\": 0.5}"}, tmp_path / "new")
    assert (tmp_path / "old" / "m.json").read_text() == "{}"
    assert references(tmp_path)["new"] == {"m.json": "{\"mAP\": 0.5}"} and (folder / "cpu.txt").is_file()
    import platform

    assert cpu_kind().startswith(platform.machine() + "-")
    assert f"kind: {folder.name}\n" in (folder / "cpu.txt").read_text()
