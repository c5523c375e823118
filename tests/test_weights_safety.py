"""No code runs from a weights file: a model.pt or checkpoint.pt carrying a pickled payload is refused."""
from __future__ import annotations

import os

import pytest
import torch

from fashionbench.core.errors import ContractError
from fashionbench.engine.training import CHECKPOINT, FINAL, load_trained, load_weights_file


class _Payload:
    """Unpickling this runs ``touch <marker>`` (what a planted file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", [FINAL, CHECKPOINT])
def test_a_planted_payload_does_not_run(tmp_path, name):
    marker = tmp_path / "ran"
    path = tmp_path / name
    torch.save({"model": {"w": torch.zeros(2)}, "cfg": _Payload(marker)}, path)
    with pytest.raises(ContractError, match=name):
        load_weights_file(path)
    assert not marker.exists(), "the payload ran"
    if name == FINAL:
        with pytest.raises(ContractError, match="no code runs"):
            load_trained(tmp_path)
        assert not marker.exists()


def test_the_check_can_fail_a_plain_file_loads(tmp_path):
    # the positive control: the same structure without the payload is read back as saved
    path = tmp_path / FINAL
    torch.save({"model": {"w": torch.ones(2)}, "cfg": {"lr": 0.1}, "item_vocab": ["a"]}, path)
    obj = load_weights_file(path)
    assert obj["cfg"] == {"lr": 0.1} and torch.equal(obj["model"]["w"], torch.ones(2))
    (tmp_path / "x.pt").write_bytes(b"not a zip")
    with pytest.raises(ContractError, match="x.pt"):
        load_weights_file(tmp_path / "x.pt")


def test_a_planted_detector_file_never_reaches_ultralytics(tmp_path):
    """A detector .pt is unpickled by Ultralytics: the detect stage records its SHA-256 when it writes it,
    and predict_boxes refuses a file that does not match, before Ultralytics opens it."""
    from fashionbench.detection import yolo

    marker = tmp_path / "ran"
    planted = tmp_path / "v8.pt"
    torch.save({"model": _Payload(marker)}, planted)
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")  # exists; never read
    for recorded in ("0" * 64, None):
        with pytest.raises(ContractError, match="v8.pt: SHA-256"):
            yolo.predict_boxes(planted, [str(image)], imgsz=64, sha256=recorded)
    assert not marker.exists(), "the payload ran"
    assert yolo.weights_sha256(planted) != "0" * 64
