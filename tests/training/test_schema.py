"""Generated configs are parsed back and every key checked against the trainer's schema
table kept in the repo (anima_caption/training/schemas/*.yaml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from anima_caption.training import SCHEMAS, load_schema, validate
from tests.conftest import EXAMPLES
from tests.training.conftest import run

KANACHAN = EXAMPLES / "kanachan"

#: trainer → {generated file: schema}
FILES = {
    "kohya": {"dataset.toml": "kohya-dataset", "train_args.toml": "kohya-args"},
    "animalora": {"animalora.yaml": "animalora"},
    "diffusion-pipe": {
        "dataset.toml": "diffusion-pipe-dataset",
        "diffusion_pipe.toml": "diffusion-pipe-main",
    },
}


def load(path: Path) -> dict[str, object]:
    if path.suffix == ".toml":
        return tomllib.loads(path.read_text(encoding="utf-8"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("trainer", "extra"),
    [
        ("kohya", []),
        ("kohya", ["--no-cache-text-encoder", "--shuffle", "--tag-dropout", "0.1", "--force"]),
        ("kohya", ["--layout", "copy", "--preset", "style"]),
        ("animalora", []),
        ("animalora", ["--json-sidecars", "--preset", "concept"]),
        ("diffusion-pipe", []),
        ("diffusion-pipe", ["--shuffle", "--force"]),
    ],
)
def test_generated_files_fit_the_schema(
    trainer: str, extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run(
        "train",
        trainer,
        str(KANACHAN),
        "--trigger",
        "kanachan",
        "--out",
        str(out),
        *extra,
        capsys=capsys,
    )
    assert code == 0, err
    for name, schema in FILES[trainer].items():
        config = load(out / name)
        assert validate(schema, config) == [], name


def test_kohya_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert (
        run(
            "train",
            "kohya",
            str(KANACHAN),
            "--trigger",
            "kanachan",
            "--out",
            str(out),
            capsys=capsys,
        )[0]
        == 0
    )
    dataset = load(out / "dataset.toml")
    general = dataset["general"]
    assert isinstance(general, dict)
    assert general["caption_extension"] == ".txt"  # sd-scripts' default is .caption
    assert general["bucket_reso_steps"] % 16 == 0
    # Captions hold sentences: no shuffling, so no separator (it would stay in the text)
    # and the text-encoder outputs can be cached.
    assert general["shuffle_caption"] is False
    assert "keep_tokens_separator" not in general
    # masterpiece, best quality, score_7, safe, 1girl, solo, kanachan
    assert general["keep_tokens"] == 7
    subsets = dataset["datasets"][0]["subsets"]  # type: ignore[index]
    assert subsets == [{"image_dir": str(KANACHAN.resolve()), "num_repeats": 10, "keep_tokens": 7}]
    args = load(out / "train_args.toml")
    assert args["network_module"] == "networks.lora_anima"
    assert args["cache_text_encoder_outputs"] is True
    assert "train_llm_adapter=false" in args["network_args"]  # type: ignore[operator]
    assert 2e-5 <= args["learning_rate"] <= 5e-5  # type: ignore[operator]
    assert args["network_alpha"] == args["network_dim"] == 32
    assert args["dataset_config"] == str(out.resolve() / "dataset.toml")
    prompts = (out / "sample_prompts.txt").read_text().splitlines()
    lines = [p for p in prompts if not p.startswith("#")]
    assert lines and all(
        p.startswith("masterpiece, best quality, score_7, safe, 1girl, solo, kanachan")
        and "--l 4 " in p
        and "--n worst quality, low quality, score_1, score_2, score_3, artist name" in p
        for p in lines
    )
    assert (out / "train.sh").stat().st_mode & 0o111


def test_diffusion_pipe_model_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert (
        run(
            "train",
            "diffusion-pipe",
            str(KANACHAN),
            "--trigger",
            "kanachan",
            "--out",
            str(out),
            capsys=capsys,
        )[0]
        == 0
    )
    main = load(out / "diffusion_pipe.toml")
    assert main["model"]["type"] == "anima"  # type: ignore[index]
    assert main["model"]["llm_adapter_lr"] == 0  # type: ignore[index]
    assert load(out / "dataset.toml")["directory"][0]["num_repeats"] == 10  # type: ignore[index]


def test_tag_only_captions_shuffle_with_keep_tokens(
    make_dataset: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.training.conftest import GOOD

    root = make_dataset({"a.png": GOOD, "b.png": GOOD.replace("smile", "frown")})  # type: ignore[operator]
    out = tmp_path / "out"
    code, _, err = run(
        "train", "kohya", str(root), "--trigger", "kanachan", "--out", str(out), capsys=capsys
    )
    assert code == 0, err
    general = load(out / "dataset.toml")["general"]
    args = load(out / "train_args.toml")
    assert general["shuffle_caption"] is True  # type: ignore[index]
    assert general["keep_tokens"] == 7  # type: ignore[index]
    # Caching would forbid shuffling: it is off.
    assert args["cache_text_encoder_outputs"] is False


@pytest.mark.parametrize(
    ("schema", "config", "expected"),
    [
        ("kohya-dataset", {"general": {"keep_token": 3}}, "unknown key"),
        ("kohya-dataset", {"general": {"bucket_reso_steps": 40}}, "multiple of 16"),
        (
            "kohya-dataset",
            {"datasets": [{"subsets": [{"num_repeats": 2}]}]},
            "missing key 'image_dir'",
        ),
        ("kohya-dataset", {"general": {"shuffle_caption": "yes"}}, "expected bool"),
        ("kohya-args", {"network_module": "networks.lora"}, "not one of"),
        ("animalora", {"lora_type": "loha"}, "not one of"),
        ("animalora", {"resolution": 1000}, "multiple of 64"),
        ("animalora", {"flip_aug": True}, "unknown key"),
        ("diffusion-pipe-main", {"model": {"type": "flux"}}, "not one of"),
        ("diffusion-pipe-dataset", {"directory": [{"num_repeats": 0}]}, "below the minimum"),
    ],
)
def test_validator_rejects_what_the_trainers_reject(
    schema: str, config: dict[str, object], expected: str
) -> None:
    problems = validate(schema, config)
    assert any(expected in str(p) for p in problems), problems


def test_schema_tables_hold_the_reference_facts() -> None:
    assert set(SCHEMAS) == {
        "kohya-dataset",
        "kohya-args",
        "animalora",
        "diffusion-pipe-dataset",
        "diffusion-pipe-main",
    }
    kohya = load_schema("kohya-dataset")["groups"]
    assert kohya["dreambooth_ascendable"]["caption_extension"]["default"] == ".caption"
    assert kohya["dataset"]["bucket_reso_steps"]["multiple_of"] == 16
    toolkit = load_schema("animalora")["groups"]
    assert toolkit["training"]["learning_rate"]["default"] == pytest.approx(1e-4)
    assert toolkit["lora"]["lora_type"]["default"] == "lokr"
