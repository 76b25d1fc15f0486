"""Golden files: the character preset on examples/kanachan, for every trainer.

Paths and the version are replaced by ``{DATASET}``, ``{OUT}`` and ``{VERSION}``. To
accept a deliberate change: ``ANIMA_CAPTION_UPDATE_GOLDEN=1 python -m pytest tests/training``
and review the diff of ``tests/training/golden/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anima_caption._version import __version__
from tests.conftest import EXAMPLES
from tests.training.conftest import run

GOLDEN = Path(__file__).parent / "golden"
KANACHAN = EXAMPLES / "kanachan"

CASES = {
    "kohya": ["dataset.toml", "train_args.toml", "sample_prompts.txt", "train.sh"],
    "animalora": ["animalora.yaml", "train.sh"],
    "diffusion-pipe": ["dataset.toml", "diffusion_pipe.toml", "train.sh"],
}


def normalise(text: str, out: Path) -> str:
    text = text.replace(str(out.resolve()), "{OUT}")
    text = text.replace(str(KANACHAN.resolve()), "{DATASET}")
    return text.replace(f"anima-caption {__version__}", "anima-caption {VERSION}")


@pytest.mark.parametrize("trainer", list(CASES))
def test_character_preset_on_kanachan(
    trainer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(
        "train",
        trainer,
        str(KANACHAN),
        "--trigger",
        "kanachan",
        "--preset",
        "character",
        "--out",
        str(out),
        capsys=capsys,
    )
    assert code == 0, stdout + stderr
    update = os.environ.get("ANIMA_CAPTION_UPDATE_GOLDEN") == "1"
    for name in CASES[trainer]:
        produced = normalise((out / name).read_text(encoding="utf-8"), out)
        golden = GOLDEN / trainer / name
        if update:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(produced, encoding="utf-8")
        assert golden.is_file(), f"no golden file {golden}; run with ANIMA_CAPTION_UPDATE_GOLDEN=1"
        assert produced == golden.read_text(encoding="utf-8"), f"{trainer}/{name} changed"


SCHEMA_OF = {
    ("kohya", "dataset.toml"): "kohya-dataset",
    ("kohya", "train_args.toml"): "kohya-args",
    ("animalora", "animalora.yaml"): "animalora",
    ("diffusion-pipe", "dataset.toml"): "diffusion-pipe-dataset",
    ("diffusion-pipe", "diffusion_pipe.toml"): "diffusion-pipe-main",
}


@pytest.mark.parametrize(("trainer", "name"), list(SCHEMA_OF))
def test_golden_files_fit_the_schema(trainer: str, name: str) -> None:
    import tomllib

    import yaml

    from anima_caption.training import validate

    text = (GOLDEN / trainer / name).read_text(encoding="utf-8")
    text = text.replace("{OUT}", "/out").replace("{DATASET}", "/dataset")
    config = tomllib.loads(text) if name.endswith(".toml") else yaml.safe_load(text)
    assert validate(SCHEMA_OF[(trainer, name)], config) == []


def test_report_on_kanachan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The example dataset carries a year tag on purpose: a warning, not a stop."""
    code, stdout, _ = run(
        "train",
        "kohya",
        str(KANACHAN),
        "--trigger",
        "kanachan",
        "--out",
        str(tmp_path / "o"),
        capsys=capsys,
    )
    assert code == 0
    assert "warning SF006/year-tag" in stdout and "kanachan_blazer_run.txt" in stdout
    assert "6 images, 6 captions: 0 errors, 1 warning." in stdout
