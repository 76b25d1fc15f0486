"""The ``train`` command: output folder rules, layouts, JSON sidecars, dry run, help, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO
from tests.training.conftest import GOOD, NL, MakeDataset, run, snapshot

KANACHAN = EXAMPLES / "kanachan"


def test_done_when_kohya_on_examples(tmp_path: Path) -> None:
    """The issue's acceptance command, as a user runs it (subprocess, real entry point)."""
    out = tmp_path / "kanachan-kohya"
    before = snapshot(KANACHAN)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "anima_caption",
            "train",
            "kohya",
            str(KANACHAN),
            "--trigger",
            "kanachan",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset.toml",
        "plan.json",
        "sample_prompts.txt",
        "train.sh",
        "train_args.toml",
    ]
    assert "Ready" in result.stdout and "Traceback" not in result.stderr
    assert snapshot(KANACHAN) == before


def test_refuses_non_empty_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, _, err = run("train", "kohya", str(KANACHAN), "--out", str(out), capsys=capsys)
    assert code == 2 and "not empty" in err and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    code, _, err = run(
        "train", "kohya", str(KANACHAN), "--out", str(out), "--overwrite", capsys=capsys
    )
    assert code == 0, err
    assert (out / "mine.txt").read_text() == "keep me"  # only generated files are replaced
    assert (out / "dataset.toml").stat().st_mode & 0o777 == 0o644


def test_out_inside_dataset_is_refused(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD})
    code, _, err = run("train", "kohya", str(root), "--out", str(root / "train"), capsys=capsys)
    assert code == 2 and "inside the dataset" in err
    assert not (root / "train").exists()


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run(
        "train",
        "kohya",
        str(KANACHAN),
        "--out",
        str(out),
        "--dry-run",
        "--trigger",
        "kanachan",
        capsys=capsys,
    )
    assert code == 0 and f"would write {out / 'dataset.toml'}" in stdout
    assert not out.exists()


@pytest.mark.parametrize("layout", ["hardlink", "symlink", "copy"])
def test_layout_builds_n_name_folders(
    layout: str, make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.jpg": GOOD, "extra/c.png": GOOD})
    before = snapshot(root)
    out = root.parent / "out"
    code, _, err = run(
        "train",
        "kohya",
        str(root),
        "--trigger",
        "kanachan",
        "--out",
        str(out),
        "--layout",
        layout,
        "--repeats",
        "4",
        capsys=capsys,
    )
    assert code == 0, err
    main_dir, extra_dir = out / "dataset" / "4_kanachan", out / "dataset" / "4_extra"
    assert sorted(p.name for p in main_dir.iterdir()) == ["a.png", "a.txt", "b.jpg", "b.txt"]
    assert sorted(p.name for p in extra_dir.iterdir()) == ["c.png", "c.txt"]
    built = main_dir / "a.png"
    if layout == "hardlink":
        assert built.stat().st_ino == (root / "a.png").stat().st_ino
    elif layout == "symlink":
        assert built.is_symlink() and built.resolve() == (root / "a.png").resolve()
    else:
        assert not built.is_symlink()
        assert built.stat().st_ino != (root / "a.png").stat().st_ino
    assert built.read_bytes() == (root / "a.png").read_bytes()
    toml = (out / "dataset.toml").read_text()
    assert f'image_dir = "{main_dir.resolve()}"' in toml
    # A second run over the built folders replaces links, never writes through them.
    code, _, err = run(
        "train",
        "kohya",
        str(root),
        "--trigger",
        "kanachan",
        "--out",
        str(out),
        "--layout",
        layout,
        "--repeats",
        "4",
        "--overwrite",
        capsys=capsys,
    )
    assert code == 0, err
    assert snapshot(root) == before


def test_animalora_json_sidecars(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": NL})
    before = snapshot(root)
    out = root.parent / "out"
    code, _, err = run(
        "train",
        "animalora",
        str(root),
        "--trigger",
        "kanachan",
        "--out",
        str(out),
        "--json-sidecars",
        capsys=capsys,
    )
    assert code == 0, err
    config = yaml.safe_load((out / "animalora.yaml").read_text())
    assert config["prefer_json"] is True
    data_dir = Path(config["data_dir"])
    assert data_dir == (out / "dataset").resolve()
    sidecar = json.loads((data_dir / "10_kanachan" / "a.json").read_text())
    # The keys the toolkit's code reads (not the documented character.name / appearance).
    assert sidecar["character"] == {"full": "kanachan"}
    assert "side ponytail" in sidecar["from_path"]["extra_appearance"]
    assert sidecar["fixed"]["quality"] == "masterpiece, best quality, score_7, safe"
    assert sidecar["ai_output"]["count"] == "1girl, solo"
    assert sidecar["ai_output"]["nl"].startswith(
        "A girl smiling at the viewer, standing in a park."
    )
    # No .txt beside the JSON (no per-sample fallback in the toolkit)
    assert not list((data_dir / "10_kanachan").glob("*.txt"))
    assert snapshot(root) == before


def test_animalora_sidecar_keeps_every_tag() -> None:
    from anima_caption.training._animalora import render_sidecar, sidecar
    from anima_caption.training._scan import caption_info

    info = caption_info(NL, Path("a.txt"), triggers=["kanachan"])
    rendered = render_sidecar(sidecar(info))
    tags, _, nl = rendered.partition(". ")
    assert set(tags.split(", ")) == set(info.tags)
    assert nl == " ".join(info.sentences)


def test_animalora_txt_mode_ignores_stray_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(
        "train",
        "animalora",
        str(KANACHAN),
        "--out",
        str(tmp_path / "o"),
        "--trigger",
        "kanachan",
        capsys=capsys,
    )
    assert code == 0
    config = yaml.safe_load((tmp_path / "o" / "animalora.yaml").read_text())
    assert config["prefer_json"] is False and config["data_dir"] == str(KANACHAN.resolve())
    assert config["lora_alpha"] == config["lora_rank"] == 32


def test_model_dir_fills_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    for rel in (
        "diffusion_models/anima-base-v1.0.safetensors",
        "text_encoders/qwen_3_06b_base.safetensors",
        "vae/qwen_image_vae.safetensors",
    ):
        (models / rel).parent.mkdir(parents=True, exist_ok=True)
        (models / rel).write_bytes(b"x")
    out = tmp_path / "o"
    code, stdout, _ = run(
        "train",
        "diffusion-pipe",
        str(KANACHAN),
        "--trigger",
        "kanachan",
        "--out",
        str(out),
        "--model-dir",
        str(models),
        capsys=capsys,
    )
    assert code == 0 and "TC013" not in stdout
    text = (out / "diffusion_pipe.toml").read_text()
    assert str(models / "vae" / "qwen_image_vae.safetensors") in text
    assert str(models / "diffusion_models" / "anima-base-v1.0.safetensors") in text
    assert str(models / "text_encoders" / "qwen_3_06b_base.safetensors") in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "kohya", "nowhere", "--out", "x"], "not a dataset folder"),
        (["train", "kohya", str(KANACHAN), "--out", "x", "--lr", "-1"], "--lr"),
        (["train", "kohya", str(KANACHAN), "--out", "x", "--tag-dropout", "2"], "--tag-dropout"),
        (["train", "kohya", str(KANACHAN), "--out", "x", "--model-dir", "nowhere"], "--model-dir"),
        (["train", "kohya", str(KANACHAN), "--out", "x", "--policy", "nowhere.yaml"], "policy"),
        (["train", "kohya", str(KANACHAN)], "--out"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(*argv, capsys=capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run("train", "kohya", "--help", capsys=capsys)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--trigger kanachan" in out and "--layout" in out
    code, _, err = run("train", capsys=capsys)
    assert code == 2 and "kohya" in err


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(
        "train",
        "kohya",
        str(KANACHAN),
        "--out",
        str(tmp_path / "o"),
        "--trigger",
        "kanachan",
        "--json",
        "--dry-run",
        capsys=capsys,
    )
    assert code == 0
    plan = json.loads(stdout)
    assert plan["keep_tokens"] == 7 and plan["shuffle"] is False
    assert {f["code"] for f in plan["findings"]} == {"SF006", "TC013"}


def test_train_cli_module_stays_light() -> None:
    """``anima_caption.training.cli`` is imported on every start of ``anima-caption``."""
    script = (
        "import sys\n"
        "import anima_caption.training.cli\n"
        "heavy = ('pydantic', 'yaml', 'lark', 'tomli_w', 'PIL', 'anima_caption._model')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
