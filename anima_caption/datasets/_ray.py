"""Ray Data as the distributed engine (``check SOURCE --engine ray``; ``pip install
anima-caption[ray]``).

The run is the shard machinery spread over a Ray cluster: ``ray.data.range(K)`` makes
``K`` work items, and an actor pool (:class:`ShardActor`, the tag database opened once per
actor) checks shard ``k`` of ``K`` of every source: each reads only its own units (parquet
row groups, blocks of JSON lines, tar files, caption files), as ``--num-shards`` runs do.
The driver adds up what the shards found and runs the dataset rules over all of them,
as ``merge`` does, so the diagnostics are those of a serial run.

For a columnar pipeline of your own, :class:`LinterActor` and :class:`ConverterActor`
take Arrow tables (``map_batches(..., batch_format="pyarrow")``); see docs/datasets.md.

Actors ask for a fraction of a CPU (:data:`ACTOR_CPUS`): on a small machine, actors that
each hold a whole CPU leave none for Ray's read and write tasks, and the run hangs.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from anima_caption._errors import UsageError

if TYPE_CHECKING:
    from anima_caption._check._api import Linter
    from anima_caption._convert._convert import Converter
    from anima_caption.datasets._run import SourceCheck
    from anima_caption.datasets._sources import Source

#: CPUs each actor asks for: a fraction, so that read tasks are never starved.
ACTOR_CPUS = 0.5
#: Work items per actor (small ones balance the load; each costs one actor call).
ITEMS_PER_ACTOR = 4


def ray_module() -> Any:
    """The ``ray`` module with Ray Data, or a usage error saying how to get it."""
    try:
        import ray
        import ray.data  # Ray Data needs its extras (pandas, pyarrow)
    except ImportError:
        raise UsageError(
            "--engine ray needs Ray Data: pip install 'anima-caption[ray]'"
        ) from None
    return ray


class _PerThread:
    """An object rebuilt from its pickle once per thread: Ray calls an actor from other
    threads than the one that built it, and a SQLite connection stays in its thread."""

    def __init__(self, value: Any) -> None:
        self._blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self._local = threading.local()

    def get(self) -> Any:
        value = getattr(self._local, "value", None)
        if value is None:
            value = self._local.value = pickle.loads(self._blob)
        return value


class LinterActor:
    """A Ray Data actor that lints Arrow tables: the :class:`~anima_caption.Linter` (and
    its database) is built once per actor, in the actor's process::

        ds.map_batches(LinterActor, fn_constructor_kwargs={"db": "tags.sqlite"},
                       batch_format="pyarrow", concurrency=8, num_cpus=0.5)

    Keyword arguments are :class:`~anima_caption.Linter`'s (``db``, ``config``,
    ``select``, ``ignore``) plus ``column`` / ``id_column``; or pass ``linter=`` a
    built one (it pickles: the database travels as its path)."""

    def __init__(
        self,
        *,
        linter: Linter | None = None,
        column: str = "caption",
        id_column: str | None = None,
        **settings: Any,
    ) -> None:
        from anima_caption._check._api import Linter

        self.linter = _PerThread(linter if linter is not None else Linter(**settings))
        self.column = column
        self.id_column = id_column

    def __call__(self, table: Any) -> Any:
        """The table with ``diagnostics``, ``errors`` and ``warnings`` columns."""
        linter: Linter = self.linter.get()
        return linter.lint_table(table, column=self.column, id_column=self.id_column)


class ConverterActor:
    """A Ray Data actor that converts Arrow tables (a :class:`~anima_caption.Converter`
    built once per actor; keyword arguments as ``Converter(TagDB.open(db), ...)``)."""

    def __init__(
        self,
        *,
        converter: Converter | None = None,
        db: str | None = None,
        column: str = "caption",
        **settings: Any,
    ) -> None:
        from anima_caption._convert._convert import Converter
        from anima_caption._tagdb import TagDB

        if converter is None:
            if db is None:
                raise UsageError("ConverterActor needs db= (the tag database's path)")
            converter = Converter(TagDB.open(db), **settings)
        self.converter = _PerThread(converter)
        self.column = column

    def __call__(self, table: Any) -> Any:
        """The table with the caption replaced and ``changes`` / ``changed`` columns."""
        converter: Converter = self.converter.get()
        return converter.convert_table(table, column=self.column)


class ShardActor:
    """Checks shard ``k`` of ``K`` of the sources for each ``k`` of a batch; returns what
    it found pickled (diagnostics, dataset entries, counts), one row per shard."""

    def __init__(self, linter: Linter, sources: Sequence[Source], shards: int) -> None:
        self.linter = _PerThread(linter)
        self.sources = list(sources)
        self.shards = shards

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from anima_caption.datasets._run import check_sources
        from anima_caption.datasets._sources import ShardFilter

        linter: Linter = self.linter.get()
        out = []
        for k in batch["id"]:
            found = check_sources(
                linter,
                self.sources,
                shard=ShardFilter(self.shards, int(k)),
                dataset_rules=False,
                streamed=False,
            )
            result = found.result
            out.append(
                pickle.dumps(
                    (int(k), result.records, result.sources, result.files, found.entries),
                    protocol=pickle.HIGHEST_PROTOCOL,
                )
            )
        return {"found": out}


def check_ray(
    linter: Linter,
    sources: Sequence[Source],
    *,
    address: str | None = None,
    workers: int | None = None,
    dataset_rules: bool = True,
) -> SourceCheck:
    """``check`` over ``sources`` on a Ray cluster (``address``; None: a local one with
    every CPU of this machine). ``workers`` actors (default: as many as there are CPUs)."""
    from anima_caption.datasets._run import SourceCheck

    ray = ray_module()
    started = not ray.is_initialized()
    if started:
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        if address is not None:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, workers or cpus)
        if actors * ACTOR_CPUS > max(cpus - 1, ACTOR_CPUS):
            actors = max(1, int((cpus - 1) / ACTOR_CPUS)) if cpus > 1 else 1
        shards = actors * ITEMS_PER_ACTOR
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        pipeline = ray.data.range(shards, override_num_blocks=shards).map_batches(
            ShardActor,
            fn_constructor_kwargs={"linter": linter, "sources": list(sources), "shards": shards},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=ACTOR_CPUS,
        )
        parts = [pickle.loads(row["found"]) for row in pipeline.iter_rows()]
    finally:
        if started:
            ray.shutdown()
    parts.sort(key=lambda part: part[0])
    out = SourceCheck.streamed()
    result = out.result
    for _k, records, texts, files, entries in parts:
        out.take_texts(records, texts)
        result.files += files
        out.entries.extend(entries)
    if dataset_rules:
        out.dataset(linter, [image for source in sources for image in source.images()])
    return out
