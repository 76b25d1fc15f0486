"""Writing a plan's files into ``--out``: configs (atomically), the ``N_name`` layout (hard
links, symlinks or copies of the images and captions) and rewritten captions (JSON sidecars,
keep-token separators). Nothing is ever written inside the dataset."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from anima_caption._errors import AnimaCaptionError, UsageError
from anima_caption.training._models import TrainingPlan


@dataclass(frozen=True)
class OutputFile:
    """One file of the output: generated ``data``, or a ``source`` file to link/copy."""

    path: Path
    """Relative to ``--out``."""
    data: bytes | None = None
    source: Path | None = None
    executable: bool = False


def plan_files(plan: TrainingPlan) -> list[OutputFile]:
    """Every file the plan produces, in order (nothing is written)."""
    from anima_caption.training import _animalora, _diffusion_pipe, _kohya

    generators = {
        "kohya": _kohya.files,
        "animalora": _animalora.files,
        "diffusion-pipe": _diffusion_pipe.files,
    }
    out = [
        OutputFile(Path(name), data=data, executable=name.endswith(".sh"))
        for name, data in generators[plan.trainer](plan).items()
    ]
    out.append(OutputFile(Path("plan.json"), data=(plan.model_dump_json(indent=2) + "\n").encode()))
    if plan.layout != "subsets":
        out.extend(_layout_files(plan))
    return out


def _layout_files(plan: TrainingPlan) -> list[OutputFile]:
    from anima_caption.training._animalora import sidecar_json
    from anima_caption.training._plan import scan_of

    scan = scan_of(plan)
    files: list[OutputFile] = []
    by_source = {subset.source: subset for subset in plan.subsets}
    separator = plan.keep_tokens_separator if plan.caption_mutating else None
    for folder in scan.folders:
        subset = by_source[folder.path.resolve()]
        target = subset.image_dir.relative_to(plan.out)
        for image in folder.images:
            files.append(OutputFile(target / image.path.name, source=image.path))
            caption_path = image.captions.get(plan.caption_extension)
            info = scan.caption_of(image)
            if caption_path is None or info is None or info.error is not None:
                continue
            if plan.trainer == "animalora" and plan.json_sidecars:
                name = Path(image.path.stem + ".json")
                files.append(OutputFile(target / name, data=sidecar_json(info)))
            elif separator and info.prefix_pieces:
                head = info.text[: info.prefix_end].rstrip(" ,")
                tail = info.text[info.prefix_end :].lstrip(" ,")
                text = f"{head} {separator} {tail}"
                files.append(OutputFile(target / caption_path.name, data=text.encode()))
            elif not caption_path.is_file():  # a caption from a dataset file (issue 17)
                files.append(OutputFile(target / caption_path.name, data=info.text.encode()))
            else:
                files.append(OutputFile(target / caption_path.name, source=caption_path))
    return files


def check_out_dir(out: Path, *, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` unless ``overwrite`` (exit code 2)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(
            f"--out {out} is not empty; pass --overwrite to replace the generated files in it"
        )


def write_plan(plan: TrainingPlan, *, overwrite: bool = False) -> list[Path]:
    """Write every file of ``plan`` into ``plan.out``; return the paths written.

    Generated files are written atomically (temp + rename); dataset files are hard-linked,
    symlinked or copied as ``plan.layout`` says. A replaced file is always replaced as a
    new directory entry, so a hard link to a source file is never written through.
    """
    from anima_caption._io import write_atomic

    check_out_dir(plan.out, overwrite=overwrite)
    plan.out.mkdir(parents=True, exist_ok=True)
    written = []
    for item in plan_files(plan):
        target = plan.out / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.data is not None:
            if target.is_symlink():
                target.unlink()
            write_atomic(target, item.data)
            target.chmod(0o755 if item.executable else 0o644)
        else:
            assert item.source is not None
            _place(item.source, target, plan.layout)
        written.append(target)
    return written


def _place(source: Path, target: Path, layout: str) -> None:
    if target.is_symlink() or target.exists():
        target.unlink()
    if layout == "symlink":
        target.symlink_to(source.resolve())
        return
    if layout == "hardlink":
        try:
            os.link(source, target)
            return
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise AnimaCaptionError(f"{target}: cannot hard-link {source}: {error}") from None
            # Another file system (or no hard links there): a copy keeps the promise that
            # the source is never touched.
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copy2(source, tmp)
    tmp.replace(target)
