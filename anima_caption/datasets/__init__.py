"""Datasets where they live: folders, sd-scripts metadata, Hugging Face ``metadata.jsonl``
and parquet, Danbooru post metadata, diffusion-pipe ``captions.json`` and WebDataset tar
shards, read as one stream of :class:`Record` objects; and sinks that write captions back
(folders through the journal, JSON lines, sd-scripts JSON, ``captions.json``, parquet).

    >>> from anima_caption.datasets import open_source
    >>> source = open_source("meta.parquet", column="caption")      # doctest: +SKIP
    >>> for record in source.records():                              # doctest: +SKIP
    ...     print(record.id, record.text)

Names load on first use: ``import anima_caption.datasets`` imports neither pyarrow nor
tarfile. See ``docs/datasets.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_caption.datasets._arrow import changes_type, diagnostics_type
    from anima_caption.datasets._danbooru import DanbooruCaptioner, danbooru_caption
    from anima_caption.datasets._run import check_sources, convert_sources, merge_summaries
    from anima_caption.datasets._sinks import (
        CaptionsJsonSink,
        FolderSink,
        JsonLinesSink,
        Output,
        ParquetSink,
        SdScriptsJsonSink,
        Sink,
        open_sink,
    )
    from anima_caption.datasets._sources import (
        DanbooruSource,
        DatasetError,
        FolderSource,
        JsonLinesSource,
        MetadataJsonSource,
        ParquetSource,
        Record,
        ShardFilter,
        Source,
        WebDatasetSource,
        open_source,
    )

_LAZY = {
    "changes_type": "_arrow",
    "diagnostics_type": "_arrow",
    "DanbooruCaptioner": "_danbooru",
    "danbooru_caption": "_danbooru",
    "check_sources": "_run",
    "convert_sources": "_run",
    "merge_summaries": "_run",
    "CaptionsJsonSink": "_sinks",
    "FolderSink": "_sinks",
    "JsonLinesSink": "_sinks",
    "Output": "_sinks",
    "ParquetSink": "_sinks",
    "SdScriptsJsonSink": "_sinks",
    "Sink": "_sinks",
    "open_sink": "_sinks",
    "DanbooruSource": "_sources",
    "DatasetError": "_sources",
    "FolderSource": "_sources",
    "JsonLinesSource": "_sources",
    "MetadataJsonSource": "_sources",
    "ParquetSource": "_sources",
    "Record": "_sources",
    "ShardFilter": "_sources",
    "Source": "_sources",
    "WebDatasetSource": "_sources",
    "open_source": "_sources",
}

__all__ = [
    "CaptionsJsonSink",
    "DanbooruCaptioner",
    "DanbooruSource",
    "DatasetError",
    "FolderSink",
    "FolderSource",
    "JsonLinesSink",
    "JsonLinesSource",
    "MetadataJsonSource",
    "Output",
    "ParquetSink",
    "ParquetSource",
    "Record",
    "SdScriptsJsonSink",
    "ShardFilter",
    "Sink",
    "Source",
    "WebDatasetSource",
    "changes_type",
    "check_sources",
    "convert_sources",
    "danbooru_caption",
    "diagnostics_type",
    "merge_summaries",
    "open_sink",
    "open_source",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anima_caption.datasets' has no attribute {name!r}")
    value = getattr(import_module(f"anima_caption.datasets.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
