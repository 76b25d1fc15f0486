"""Every cross-check fires on a purpose-built bad dataset, says what it costs, and stops
generation when it is an error (unless --force); a clean dataset passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anima_caption.training import CHECKS, TrainOptions, plan_training
from tests.training.conftest import GOOD, NL, MakeDataset, run, snapshot


def codes(out: str) -> dict[str, str]:
    """``{code: severity}`` from the report lines."""
    found = {}
    for line in out.splitlines():
        for word in line.split():
            if "/" in word and word[:2] in ("TC", "DS", "NL", "SF") and word[2:5].isdigit():
                severity = line.split(word)[0].split()[-1]
                found[word[:5]] = severity
    return found


def train(
    capsys: pytest.CaptureFixture[str], trainer: str, root: Path, *extra: str
) -> tuple[int, dict[str, str], str, Path]:
    out = root.parent / "out"
    code, stdout, stderr = run(
        "train",
        trainer,
        str(root),
        "--trigger",
        "kanachan",
        "--out",
        str(out),
        *extra,
        capsys=capsys,
    )
    return code, codes(stdout), stdout + stderr, out


def test_clean_tag_dataset_passes(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.jpg": GOOD.replace("smile", "frown")})
    before = snapshot(root)
    for trainer in ("kohya", "animalora", "diffusion-pipe"):
        code, found, text, out = train(capsys, trainer, root, "--overwrite")
        assert code == 0, text
        assert {c for c, sev in found.items() if sev != "info"} == set(), text
        assert (out / "train.sh").is_file()
    assert snapshot(root) == before


def test_nl_with_shuffle(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset({"a.png": NL})
    code, found, text, out = train(capsys, "kohya", root, "--shuffle", "--no-cache-text-encoder")
    assert code == 1
    assert found["TC001"] == "error"
    assert "scrambled prose" in text
    assert not out.exists()  # errors stop generation
    # The default never shuffles captions with sentences.
    code, found, text, _ = train(capsys, "kohya", root)
    assert "TC001" not in found and code == 0, text


def test_direction_words_with_flip(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": NL})
    code, found, text, _ = train(capsys, "kohya", root, "--flip")
    assert code == 1 and found["TC002"] == "error"
    assert "right side of the image" in text and "wrong side" in text
    # style preset: flip is automatic, and off because the captions say left/right
    code, found, text, out = train(capsys, "animalora", root, "--preset", "style")
    assert code == 0 and "TC002" not in found, text
    assert "flip_augment: false" in (out / "animalora.yaml").read_text()


def test_directional_policy_with_flip(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = make_dataset({"a.png": GOOD})  # tag-only: no direction words at all
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "triggers:\n  kanachan:\n    structural: [side ponytail]\n"
        "    directional:\n      - tag: side ponytail\n        side: left\n",
        encoding="utf-8",
    )
    code, found, text, _ = train(capsys, "kohya", root, "--policy", str(policy), "--flip")
    assert code == 1 and found["TC002"] == "error", text
    code, found, text, out = train(
        capsys, "kohya", root, "--policy", str(policy), "--preset", "style"
    )
    assert code == 0, text
    assert "flip_aug = false" in (out / "dataset.toml").read_text()


def test_text_encoder_cache_conflict(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD})
    code, found, text, _ = train(capsys, "kohya", root, "--shuffle", "--cache-text-encoder")
    assert code == 1 and found["TC003"] == "error"
    assert "AssertionError" in text
    code, found, text, _ = train(
        capsys, "kohya", root, "--no-shuffle", "--cache-text-encoder", "--tag-dropout", "0.1"
    )
    assert found["TC003"] == "error" and "caption_tag_dropout_rate" in text
    code, found, text, _ = train(
        capsys, "kohya", root, "--no-shuffle", "--cache-text-encoder", "--token-warmup-step", "10"
    )
    assert found["TC003"] == "error" and "token_warmup_step" in text


def test_multi_line_captions(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(
        {"a.png": "deviantart\nFlame\nDigital painting of a fire. Orange light fills the room."}
    )
    code, found, text, _ = train(capsys, "kohya", root)
    assert code == 1 and found["NL003"] == "error"
    assert "only the first line" in text and "header" in text
    # diffusion-pipe reads the whole file
    code, found, text, _ = train(capsys, "diffusion-pipe", root)
    assert "NL003" not in found and code == 0, text


def test_caption_over_512_tokens(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    long = GOOD + ", " + ", ".join(f"tag number {i}" for i in range(300))
    root = make_dataset({"a.png": long})
    code, found, text, _ = train(capsys, "kohya", root)
    assert found["TC005"] == "warning" and code == 0
    assert "cuts the text at 512 tokens" in text


def test_images_without_captions(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.png": None})
    # sd-scripts warns and trains the image on an empty caption (library/train_util.py,
    # load_dreambooth_dir: 'neither caption file nor class tokens are found. use empty
    # caption'): a warning, not a stop
    code, found, text, _ = train(capsys, "kohya", root)
    assert code == 0 and found["DS001"] == "warning" and "b.png" in text
    assert "empty caption" in text and "stops" not in text
    code, found, text, _ = train(capsys, "animalora", root, "--overwrite")
    assert code == 0 and found["DS001"] == "warning" and "skips them" in text


def test_keep_tokens_separator_leak(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": "masterpiece, safe, 1girl, kanachan ||| smile, ahoge"})
    code, found, text, _ = train(capsys, "kohya", root, "--no-shuffle")
    assert code == 1 and found["TC007"] == "error" and "literal '|||'" in text
    clean = root.parent / "clean"
    clean.mkdir()
    (clean / "a.png").write_bytes((root / "a.png").read_bytes())
    (clean / "a.txt").write_text(GOOD, encoding="utf-8")
    code, stdout, _ = run(
        "train",
        "kohya",
        str(clean),
        "--out",
        str(root.parent / "o2"),
        "--no-shuffle",
        "--keep-tokens-separator",
        "|||",
        capsys=capsys,
    )
    assert code == 1 and codes(stdout)["TC007"] == "error"


def test_separator_written_into_out_only(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.png": "masterpiece, safe, 1girl, kanachan, frown"})
    before = snapshot(root)
    code, _, text, out = train(capsys, "kohya", root, "--shuffle", "--keep-tokens-separator", "|||")
    assert code == 0, text
    built = out / "dataset" / "10_kanachan"
    assert (
        (built / "a.txt")
        .read_text()
        .startswith(
            "masterpiece, best quality, score_7, safe, 1girl, solo, kanachan ||| side ponytail"
        )
    )
    assert (built / "b.txt").read_text() == "masterpiece, safe, 1girl, kanachan ||| frown"
    assert 'keep_tokens_separator = "|||"' in (out / "dataset.toml").read_text()
    assert snapshot(root) == before


def test_batch_larger_than_dataset(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.png": GOOD})
    code, found, text, _ = train(capsys, "kohya", root, "--repeats", "1", "--batch-size", "4")
    assert code == 1 and found["TC008"] == "error" and "images x repeats = 2" in text
    code, found, text, _ = train(
        capsys, "animalora", root, "--repeats", "2", "--batch-size", "2", "--grad-accum", "4"
    )
    assert found["TC008"] == "error" and "grad_accum = 8" in text


def test_learning_rate_far_from_guidance(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD})
    code, found, text, _ = train(capsys, "animalora", root, "--lr", "1e-4")
    assert code == 0 and found["TC009"] == "warning" and "too high" in text
    code, found, text, _ = train(capsys, "animalora", root, "--lr", "5e-5", "--overwrite")
    assert "TC009" not in found


def test_year_tags(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset({"a.png": GOOD + ", year 2024"})
    code, found, text, _ = train(capsys, "diffusion-pipe", root)
    assert code == 0 and found["SF006"] == "warning" and "year 2024" in text


def test_caption_extension_mismatch(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.png|.caption": GOOD})
    code, found, text, _ = train(capsys, "kohya", root)
    assert code == 1 and found["TC011"] == "error" and "never read" in text
    other = root.parent / "captions"
    other.mkdir()
    (other / "x.png").write_bytes((root / "a.png").read_bytes())
    (other / "x.caption").write_text(GOOD, encoding="utf-8")
    code, stdout, _ = run(
        "train",
        "kohya",
        str(other),
        "--out",
        str(root.parent / "o3"),
        "--caption-extension",
        ".txt",
        capsys=capsys,
    )
    assert code == 1 and codes(stdout)["TC011"] == "error"
    # Without the option, the extension the dataset has is used.
    code, stdout, _ = run(
        "train", "kohya", str(other), "--out", str(root.parent / "o4"), capsys=capsys
    )
    assert (
        code == 0
        and 'caption_extension = ".caption"' in (root.parent / "o4" / "dataset.toml").read_text()
    )


def test_keep_tokens_varies(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset({"a.png": GOOD, "b.png": "safe, 1girl, kanachan, smile"})
    _, found, text, _ = train(capsys, "kohya", root)
    assert found["TC012"] == "warning" and "keep_tokens = 3" in text


def test_unreadable_caption_is_reported_and_untouched(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD, "b.png": GOOD})
    (root / "b.txt").write_bytes(b"masterpiece, \xff\xfe broken")
    before = snapshot(root)
    code, found, text, _ = train(capsys, "kohya", root)
    assert code == 1 and found["TC014"] == "error" and "invalid UTF-8" in text
    assert "Traceback" not in text
    assert snapshot(root) == before


def test_folder_repeats_ignored_by_toolkit(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"5_kanachan/a.png": GOOD, "20_outfit/b.png": GOOD})
    code, found, text, out = train(capsys, "animalora", root)
    assert found["TC016"] == "warning" and "ignores folder names" in text
    # kohya keeps the folders' repeats as subsets
    code, found, text, out = train(capsys, "kohya", root, "--overwrite")
    assert code == 0, text
    toml = (out / "dataset.toml").read_text()
    assert "num_repeats = 20" in toml and "num_repeats = 5" in toml


def test_no_images(make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset({"a.txt": GOOD})
    code, found, _, _ = train(capsys, "kohya", root)
    assert code == 1 and found["TC017"] == "error" and found["DS002"] == "warning"


def test_diffusion_pipe_prefix_shuffled(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": GOOD})
    code, found, _, _ = train(capsys, "diffusion-pipe", root, "--shuffle")
    assert code == 0 and found["TC019"] == "warning"


def test_force_generates_despite_errors(
    make_dataset: MakeDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset({"a.png": NL})
    code, found, text, out = train(capsys, "kohya", root, "--flip", "--force")
    assert code == 0 and found["TC002"] == "error"
    assert "despite errors" in text and (out / "dataset.toml").is_file()
    plan = json.loads((out / "plan.json").read_text())
    assert [f["code"] for f in plan["findings"]][:1] == ["TC002"]


def test_every_check_is_exercised() -> None:
    # The checks table and this module stay in step: a new check needs a test here.
    source = Path(__file__).read_text()
    untested = [code for code in CHECKS if code not in source and code not in ("TC013", "TC015")]
    assert untested == []


def test_api_plan_without_writing(make_dataset: MakeDataset) -> None:
    root = make_dataset({"a.png": NL})
    plan = plan_training(
        "kohya", root, root.parent / "out", TrainOptions(triggers=("kanachan",), flip=True)
    )
    assert [f.name for f in plan.errors] == ["TC002/direction-flip"]
    assert not (root.parent / "out").exists()
    # TC013 and TC015 are informational
    infos = {f.code for f in plan.findings if f.severity == "info"}
    assert infos == {"TC013"}
    toolkit = plan_training("animalora", root, root.parent / "out", TrainOptions())
    assert "TC015" in {f.code for f in toolkit.findings}


def test_example_policy_gives_trigger_and_direction(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """examples/kanachan-policy.yaml (the seed's decisions) drives the plan: its trigger
    joins the fixed prefix without --trigger, and its directional side ponytail keeps
    flipping off even for the style preset."""
    from tests.conftest import EXAMPLES

    policy = EXAMPLES / "kanachan-policy.yaml"
    code, stdout, _ = run(
        "train",
        "kohya",
        str(EXAMPLES / "kanachan"),
        "--policy",
        str(policy),
        "--preset",
        "style",
        "--out",
        str(tmp_path / "o"),
        "--json",
        "--dry-run",
        capsys=capsys,
    )
    assert code == 0
    plan = json.loads(stdout)
    assert plan["triggers"] == ["kanachan"] and plan["keep_tokens"] == 7
    assert plan["flip"] is False and plan["policy_directional"] is True


def test_shared_codes_are_the_check_rules() -> None:
    """train reports DS001, DS002, NL003 and SF006 under the check rules' own code and slug;
    the retired cross-check codes name one of them and are never reused."""
    from anima_caption._check._registry import get_rule
    from anima_caption.training._checks import CHECKS, RETIRED, SHARED

    for code, slug in SHARED.items():
        rule = get_rule(code)
        assert rule is not None and rule.slug == slug, code
    for code, (slug, now) in RETIRED.items():
        assert code not in CHECKS and now in SHARED and SHARED[now] == slug, code
