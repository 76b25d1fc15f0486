"""The state behind ``anima-caption review serve``: the dataset as loaded, checked and
edited, with no web framework in it (the server in :mod:`._server` only translates HTTP).

Opening is fast whatever the dataset's size: the folder is walked and images paired with
captions at once, and the captions are read, parsed and checked by a background thread in
file order (the first page is ready in milliseconds; the dataset rules run when every
caption is in). Every caption keeps the bytes it was loaded from: saving writes through
the backup journal and refuses a file that changed on disk since (the page then shows
both). Items are addressed by their number in the list only, never by a path from the
browser, and thumbnails are made with the bounded decoder of :mod:`._thumbs` and cached
outside the dataset, so an untrusted dataset can neither be read outside its folder nor
plant files the server would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._errors import AnimaCaptionError, UsageError
from anima_caption._review._dataset import strip_final_newline

if TYPE_CHECKING:
    from anima_caption._check._diagnostic import DiagnosticRecord
    from anima_caption._check._engine import Checker
    from anima_caption._model import Caption, Tag
    from anima_caption._policy import Policy
    from anima_caption._review._cache import CheckCache
    from anima_caption.datasets import Source

#: Thumbnail boxes in pixels: the grid's and the large view's.
THUMB_SIZES = {"small": 256, "large": 1024}
#: The most captions one save or bulk request may name.
MAX_BATCH = 20_000
#: How long the background check waits for the page's first request (seconds).
FIRST_PAGE_WAIT = 1.0
#: Captions are checked in slices of this many between looks at the lock (and at the
#: requests in flight, which go first).
_SLICE = 16
#: How long the background check leaves the processor to a request in flight (seconds).
_YIELD = 0.002


class ConflictError(UsageError):
    """A caption changed on disk since it was loaded."""


class ReadOnlyError(AnimaCaptionError):
    """A write asked of a read-only review (a dataset file); answered 409."""


@dataclass
class Item:
    """One image (or orphan caption) of the dataset, as loaded."""

    id: int
    key: str
    """The caption file relative to the dataset, POSIX (``sub/img.txt``)."""
    caption_path: Path
    image: Path | None
    loaded: bytes | None = None
    """The caption file's bytes when loaded (None: there was no file)."""
    body: str = ""
    """The caption without its final line end, line ends as ``\\n``: what the page edits."""
    ending: str = ""
    """The final line end the file had (kept on save)."""
    newline: str = "\n"
    bom: bool = False
    read_error: str | None = None
    caption: Caption | None = None
    records: list[DiagnosticRecord] = field(default_factory=list)
    """Caption rules' findings on :attr:`body` (without TG005 on a likely trigger)."""
    raw: list[DiagnosticRecord] = field(default_factory=list)
    """Caption rules' findings as the engine gave them (what the check cache keeps)."""
    dataset: list[DiagnosticRecord] = field(default_factory=list)
    """Dataset rules' findings that name this item."""
    parsed: bool = False
    """Read and parsed: the card can be drawn (its diagnostics may still be coming)."""
    ready: bool = False
    """Checked: :attr:`records` are the caption rules' findings."""
    digest: str = ""
    """The check cache's key of the bytes loaded."""
    seq: int = 0
    """When the card's diagnostics last changed (the page asks for changes since)."""
    text: str | None = None
    """A dataset-file source's caption text (None: a caption file on disk)."""

    @property
    def name(self) -> str:
        """The image's file name, else the caption's."""
        return (self.image or self.caption_path).name


class ReviewSession:
    """One dataset being reviewed: load it with :meth:`start`, then ask and edit."""

    def __init__(
        self,
        root: Path,
        checker: Checker,
        *,
        policy: Policy | None = None,
        thumb_cache: Path | None = None,
        command: str = "review serve",
        source: Source | None = None,
        check_cache: Path | None = None,
        use_check_cache: bool = True,
        thumb_cache_bytes: int | None = None,
    ) -> None:
        from anima_caption._data import cache_dir
        from anima_caption._review._cache import THUMB_CACHE_BYTES, CheckCache, fingerprint

        self.source = source
        """A dataset file (parquet, JSON lines, metadata JSON, captions.json, WebDataset
        tar): shown read-only. None: a folder of caption files."""
        if source is not None:
            self.source_path = source.path.resolve()
            root = self.source_path.parent
        elif not root.is_dir():
            raise UsageError(f"{root}: not a dataset folder")
        self.root = root.resolve()
        self.read_only: str | None = None
        """Why saving is refused (None: it is not)."""
        if source is not None:
            self.read_only = (
                f"{source.path.name} is a {source.kind} dataset file: this review is "
                "read-only (edit and check freely; nothing is written)"
            )
        self.checker = checker
        if checker.db is not None:  # requests are answered in a thread pool, one at a time
            checker.db.share_across_threads()
        self.policy = policy
        self.grouping = "policy" if policy is not None else "section"
        self.command = command
        digest = hashlib.sha256(str(self.root).encode("utf-8")).hexdigest()[:16]
        self.thumb_root = thumb_cache or cache_dir() / "review-thumbs"
        self.thumb_cache = self.thumb_root / digest
        self.thumb_cache_bytes = (
            THUMB_CACHE_BYTES if thumb_cache_bytes is None else thumb_cache_bytes
        )
        self._thumb_written = 0
        self.check_cache: CheckCache | None = None
        if use_check_cache:
            print_ = fingerprint(checker)  # the policy is in the configuration
            if print_ is not None:
                name = str(self.source_path if source is not None else self.root)
                self.check_cache = CheckCache(
                    check_cache or cache_dir() / "review-checks", name, print_
                )
        self._likely: frozenset[str] = frozenset()
        """The likely triggers the dataset rules found last (their TG005 are dropped)."""
        self.seq = 0
        """Bumped whenever a card's diagnostics change (see :meth:`updates`)."""
        self.items: list[Item] = []
        self.lock = threading.RLock()
        self.loaded_at = 0.0
        self.dataset_done = False
        """Every caption is checked and the dataset rules ran on the current texts."""
        self.generation = 0
        """Bumped whenever the dataset rules' findings change (the page reloads them)."""
        self._thread: threading.Thread | None = None
        self._dirty = threading.Event()
        self._stop = False
        self._thumb_errors: dict[tuple[int, str], str] = {}
        self._first_page = threading.Event()
        self._requests = 0
        """Requests being answered now: the background check waits while there are any."""

    # -- loading ---------------------------------------------------------------------------

    def scan(self) -> None:
        """Pair images and captions (walk only; nothing is read yet). A dataset file is
        read here (its records are the captions)."""
        if self.source is not None:
            self._scan_source(self.source)
            return
        captions, images = self.checker.collect([str(self.root)])
        caption_ext = self.checker.config.caption_extensions
        extension = caption_ext[0] if caption_ext else ".txt"
        by_stem: dict[Path, Item] = {}
        for image in images:
            stem = image.with_suffix("")
            if stem in by_stem:  # a.png and a.jpg share a caption: one item each
                stem = image
            by_stem[stem] = Item(0, "", image.with_suffix(extension), image)
        for path in captions:
            found = by_stem.get(path.with_suffix(""))
            if found is None:
                by_stem[path.with_suffix("")] = Item(0, "", path, None)
            else:
                found.caption_path = path
        items = sorted(by_stem.values(), key=lambda i: (i.caption_path.as_posix(), i.name))
        for number, item in enumerate(items):
            item.id = number
            item.key = item.caption_path.relative_to(self.root).as_posix()
        with self.lock:
            self.items = items
            self.dataset_done = False
        self.loaded_at = time.time()

    def _scan_source(self, source: Source) -> None:
        """The records of a dataset file as items (in the file's order). An id that names
        an image beside the file (Hugging Face ``metadata.jsonl``: ``file_name``) shows
        that image."""
        wanted = tuple(e.lower() for e in self.checker.config.image_extensions)
        items = []
        for number, record in enumerate(source.records()):
            image: Path | None = None
            if record.id.lower().endswith(wanted):
                candidate = self.root / record.id
                if self._image_problem(candidate) is None:
                    image = candidate
            item = Item(number, source.display(record), self.root / record.id, image)
            item.text = record.text
            item.read_error = record.error
            items.append(item)
        with self.lock:
            self.items = items
            self.dataset_done = False
        self.loaded_at = time.time()

    def start(self, *, background: bool = True) -> None:
        """Scan, then check every caption (in a background thread unless told not to)."""
        self.scan()
        if not background:
            self._analyse_all()
            return
        self._dirty.set()
        self._thread = threading.Thread(target=self._worker, name="review-check", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (at its next slice)."""
        self._stop = True
        self._dirty.set()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until every caption is checked and the dataset rules ran."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.dataset_done and not self._dirty.is_set():
                return True
            time.sleep(0.01)
        return False

    def _worker(self) -> None:
        # The first page is checked by the request that asks for it; the whole dataset
        # waits for that (or a second), so that the two do not share the processor.
        self._first_page.wait(FIRST_PAGE_WAIT)
        pruned = False
        while not self._stop:
            self._dirty.wait()
            if self._stop:
                return
            self._dirty.clear()
            try:
                self._analyse_all()
                if not pruned:
                    pruned = True
                    self.prune_thumbnails()
            except Exception as error:  # never let the thread die silently
                import sys

                print(f"review serve: checking failed: {error}", file=sys.stderr)

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Mark a request being answered: the background check gives way until it is
        (with one core per request and the interpreter's lock, checking beside a request
        would slow the page's answers down by half)."""
        with self.lock:
            self._requests += 1
        try:
            yield
        finally:
            with self.lock:
                self._requests -= 1

    def _give_way(self) -> None:
        waited = 0.0
        while self._requests > 0 and not self._stop and waited < 2.0:
            time.sleep(_YIELD)
            waited += _YIELD

    def _analyse_all(self) -> None:
        pending = [i for i in self.items if not i.ready]
        for start in range(0, len(pending), _SLICE):
            if self._thread is not None:
                self._give_way()
            with self.lock:
                for item in pending[start : start + _SLICE]:
                    if not item.ready:
                        self._check_item(item)
            if self._stop:
                return
        if self.check_cache is not None:
            with self.lock:
                self.check_cache.save()
        self._dataset_rules()

    def _load(self, item: Item) -> None:
        """Read, parse and check one item's caption."""
        self._read(item)
        self._check_item(item)

    def _read(self, item: Item) -> None:
        """Read and parse one item's caption (no rules yet: :meth:`_check_item`)."""
        from anima_caption._errors import CaptionDecodeError
        from anima_caption._io import MAX_CAPTION_BYTES, decode_caption

        item.ready = False
        if item.text is not None:  # a dataset file's record
            item.loaded = item.text.encode("utf-8")
            body = strip_final_newline(item.text)
            item.ending = item.text[len(body) :]
            item.body = body.replace("\r\n", "\n").replace("\r", "\n")
            item.newline = "\n"
            item.bom = False
            self._parse_item(item)
            return
        item.loaded = None
        item.read_error = None
        item.body = item.ending = ""
        item.newline = "\n"
        item.bom = False
        try:
            info = os.lstat(item.caption_path)
        except FileNotFoundError:
            info = None
        except OSError as error:
            item.read_error = f"cannot read the caption: {error.strerror or error}"
            info = None
        if info is not None:
            if not stat.S_ISREG(info.st_mode):
                item.read_error = "the caption is not a regular file (a link?); not shown"
            elif info.st_size > MAX_CAPTION_BYTES:
                item.read_error = f"the caption is over {MAX_CAPTION_BYTES:,} bytes; not shown"
            else:
                try:
                    data = item.caption_path.read_bytes()
                    decoded = decode_caption(data, item.caption_path)
                except (OSError, CaptionDecodeError) as error:
                    item.read_error = str(error).splitlines()[0]
                else:
                    item.loaded = data
                    text = decoded.text
                    body = strip_final_newline(text)
                    item.ending = text[len(body) :]
                    item.newline = decoded.newline if decoded.newline in ("\r\n", "\r") else "\n"
                    item.bom = decoded.bom
                    item.body = body.replace("\r\n", "\n").replace("\r", "\n")
        self._parse_item(item)

    def _parse_item(self, item: Item) -> None:
        from anima_caption._review._cache import content_key

        item.caption = None
        if item.read_error is None:
            item.caption = self.parse(self._text(item, item.body))
        item.digest = "" if item.loaded is None else content_key(item.loaded)
        item.records = item.raw = []
        item.parsed = True

    def _check_item(self, item: Item) -> None:
        """The caption rules on a parsed item: from the check cache, else the engine."""
        if not item.parsed:
            self._read(item)
        raw: list[DiagnosticRecord] | None = None
        cache = self.check_cache
        if item.read_error is None:
            if cache is not None:
                raw = cache.get(item.key, item.digest or "-", item.key)
            if raw is None:
                item.caption, raw = self._check(item, item.body, item.caption)
                if cache is not None:
                    cache.put(item.key, item.digest or "-", raw)
        item.raw = raw or []
        item.records = self._unlikely(item, item.raw)
        item.ready = True
        self._touch(item)

    def _touch(self, item: Item) -> None:
        self.seq += 1
        item.seq = self.seq

    def _unlikely(self, item: Item, records: list[DiagnosticRecord]) -> list[DiagnosticRecord]:
        """``records`` without TG005 on the likely triggers the dataset rules found."""
        if not self._likely or not records:
            return list(records)
        from anima_caption._check._engine import _without_unknown

        return _without_unknown(records, self._likely, {item.key: item.body})

    @staticmethod
    def _text(item: Item, body: str) -> str:
        return body + ("\n" if item.ending else "")

    def _check(
        self, item: Item, body: str, caption: Caption | None = None
    ) -> tuple[Caption | None, list[DiagnosticRecord]]:
        """Parse (unless ``caption`` is given) and check ``body`` as ``item``'s caption (the
        caption rules, as the engine gives them)."""
        from anima_caption._check._context import CaptionContext
        from anima_caption._io import decode_caption

        if item.read_error is not None:
            return None, []
        text = self._text(item, body)
        ctx = CaptionContext(
            path=item.caption_path, display=item.key, config=self.checker.config, db=self.checker.db
        )
        ctx.file = decode_caption(text.encode("utf-8"), item.caption_path)
        ctx.caption = caption if caption is not None else self.parse(text)
        return ctx.caption, self.checker.check_caption(ctx)

    def _check_live(self, item: Item, body: str) -> tuple[Caption | None, list[DiagnosticRecord]]:
        """:meth:`_check` as the page shows it (likely triggers' TG005 dropped)."""
        caption, records = self._check(item, body)
        if self._likely:
            from anima_caption._check._engine import _without_unknown

            records = _without_unknown(records, self._likely, {item.key: body})
        return caption, records

    def parse(self, text: str) -> Caption:
        """Parse ``text`` as the dataset's checker does."""
        from anima_caption._parse import parse

        return parse(text, lookup=self.checker.lookup, triggers=self.checker.config.triggers)

    def _dataset_rules(self) -> None:
        from anima_caption._check._context import CaptionContext, DatasetContext, DatasetEntry

        with self.lock:
            entries = []
            images: list[Path] = []
            memo: dict[str, Any] = {}
            for item in self.items:
                if item.image is not None and self.source is None:
                    images.append(item.image)
                if item.loaded is None and item.read_error is None:
                    continue
                if not item.parsed:
                    self._read(item)
                ctx = CaptionContext(
                    path=item.caption_path,
                    display=item.key,
                    config=self.checker.config,
                    db=self.checker.db,
                )
                ctx.caption = item.caption
                entries.append(DatasetEntry.of(ctx, memo))
            dataset = DatasetContext(
                captions=entries,
                images=images,
                config=self.checker.config,
                db=self.checker.lookup,
            )
            records = self.checker.check_dataset(dataset)
            likely = dataset.shared.get("likely-triggers")
            by_key: dict[str, Item] = {}
            for item in self.items:
                by_key[item.key] = item
                if item.image is not None:
                    by_key.setdefault(item.image.relative_to(self.root).as_posix(), item)
                    by_key.setdefault(str(item.image), item)  # DS001 names the image so
            self._likely = likely if isinstance(likely, frozenset) else frozenset()
            before = {i.id: (i.records, i.dataset) for i in self.items}
            for item in self.items:
                item.dataset = []
                if item.ready:
                    item.records = self._unlikely(item, item.raw)
            for record in records:
                owner = by_key.get(record.path)
                if owner is not None:
                    owner.dataset.append(record)
            for item in self.items:  # the page asks for the cards whose findings changed
                if before[item.id] != (item.records, item.dataset):
                    self._touch(item)
            self.dataset_done = True
            self.generation += 1

    def _recheck_dataset(self) -> None:
        """Run the dataset rules again (in the background) after captions changed."""
        self.dataset_done = False
        if self._thread is None:
            self._dataset_rules()
        else:
            self._dirty.set()

    def item(self, number: object) -> Item:
        """The item numbered ``number`` (an ``int`` from the page; anything else refused)."""
        if not isinstance(number, int) or isinstance(number, bool):
            raise UsageError("an item number is an integer")
        with self.lock:
            if not 0 <= number < len(self.items):
                raise UsageError(f"no item {number}")
            item = self.items[number]
            if not item.ready:
                self._check_item(item)
            return item

    # -- what the page reads ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """How far loading has got."""
        with self.lock:
            ready = sum(1 for i in self.items if i.ready)
            return {
                "total": len(self.items),
                "ready": ready,
                "complete": self.dataset_done,
                "generation": self.generation,
                "seq": self.seq,
                "read_only": self.read_only,
            }

    def items_json(
        self, offset: int = 0, limit: int | None = None, *, check: bool = True
    ) -> dict[str, Any]:
        """The cards from ``offset`` on (at most ``limit``). ``check``: check those not yet
        checked first (a screenful); else a card not checked yet comes with its caption
        parsed and coloured but ``ready`` false, and its diagnostics come later through
        :meth:`updates` (the background thread checks in file order)."""
        with self.lock:
            chosen = self.items[offset : None if limit is None else offset + limit]
            for item in chosen:
                if check and not item.ready:
                    self._check_item(item)
                elif not item.parsed:
                    self._read(item)
            answer = {
                "items": [self.item_json(i) for i in chosen],
                "offset": offset,
                **self.status(),
            }
        self._first_page.set()
        return answer

    def updates(self, since: int) -> dict[str, Any]:
        """The diagnostics of every card whose findings changed after ``seq`` ``since``
        (checked in the background, or the dataset rules' findings moved), and the ``seq``
        to ask from next time."""
        with self.lock:
            changed = [i for i in self.items if i.seq > since]
            return {
                "items": [self.diagnostics_json(i) for i in changed],
                **self.status(),
            }

    def diagnostics_json(self, item: Item) -> dict[str, Any]:
        """What :meth:`updates` sends of a card: its diagnostics and status."""
        diagnostics = [_diagnostic_json(n, r, False) for n, r in enumerate(item.records)]
        diagnostics += [_diagnostic_json(n, r, True) for n, r in enumerate(item.dataset)]
        return {
            "id": item.id,
            "diagnostics": diagnostics,
            "status": _status(diagnostics, item.read_error),
            "ready": item.ready,
        }

    def group_of(self, item: Item, caption: Caption) -> Callable[[Tag], str]:
        """How ``caption``'s tags are coloured: their section, or their policy role."""
        if self.policy is None:
            return lambda tag: tag.section.value
        from anima_caption._policy import classify

        folder = Path(item.key).parent.as_posix()
        try:
            result = classify(caption, self.policy, folder=None if folder == "." else folder)
        except Exception:  # a caption the policy cannot place: plain colours
            return lambda tag: "other"
        roles = {c.tag.span[0]: c.role for c in result.tags}
        return lambda tag: roles.get(tag.span[0], "other")

    def item_json(
        self,
        item: Item,
        body: str | None = None,
        caption: Caption | None = None,
        records: list[DiagnosticRecord] | None = None,
    ) -> dict[str, Any]:
        """One card: caption pieces coloured, diagnostics (caption and dataset rules)."""
        from anima_caption._review._edit import segments

        if body is None:
            body, caption, records = item.body, item.caption, item.records
        records = records or []
        pieces = []
        if caption is not None:
            pieces = [s.to_json() for s in segments(caption, self.group_of(item, caption))]
        diagnostics = [_diagnostic_json(n, r, False) for n, r in enumerate(records)]
        diagnostics += [_diagnostic_json(n, r, True) for n, r in enumerate(item.dataset)]
        parse_errors = []
        if caption is not None:
            from anima_caption._errors import line_column

            for error in caption.errors:
                line, column = line_column(body, error.error_span[0])
                parse_errors.append(f"{line}:{column}: {error.message}")
        return {
            "id": item.id,
            "key": item.key,
            "name": item.name,
            "image": item.image is not None,
            "exists": item.loaded is not None,
            "body": body,
            "segments": pieces,
            "diagnostics": diagnostics,
            "parse_errors": parse_errors,
            "status": _status(diagnostics, item.read_error),
            "read_error": item.read_error,
            "ready": item.ready,
        }

    def check_text(self, number: object, body: object) -> dict[str, Any]:
        """The card of item ``number`` with ``body`` as its caption (not saved): what the page
        shows while you type."""
        body = _body(body)
        with self.lock:
            item = self.item(number)
            caption, records = self._check_live(item, body)
            return self.item_json(item, body, caption, records)

    def suggestions(self, number: object, body: object, index: object) -> list[dict[str, Any]]:
        """Replacements the tag database suggests for top-level tag ``index`` of ``body``."""
        from anima_caption._model import Tag

        db = self.checker.db
        with self.lock:
            caption = self.parse(_body(body))
            if db is None or not isinstance(index, int) or not 0 <= index < len(caption.items):
                return []
            tag = caption.items[index]
            if not isinstance(tag, Tag):
                return []
            context = [t.text for t in caption.tags if t is not tag]
            return [
                {"tag": s.tag, "reason": s.reason, "remove": s.remove}
                for s in db.suggest(tag.text, limit=4, context=context)
            ]

    def edit(self, number: object, body: object, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Apply one editor operation (``remove``, ``replace``, ``move``, ``add``, ``fix``)."""
        with self.lock:
            return self._edit(number, _body(body), op, args)

    def _edit(self, number: object, body: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        from anima_caption._review import _edit

        parse = self.parse
        item = self.item(number)
        raw_index = args.get("index")
        index = raw_index if isinstance(raw_index, int) else -1
        if op in ("remove", "replace", "move") and not isinstance(raw_index, int):
            raise UsageError(f"'{op}' needs the tag's index")
        if op == "remove":
            text = _edit.remove_tag(body, index, parse)
        elif op == "replace":
            text = _edit.replace_tag(body, index, _str(args.get("tag")), parse)
        elif op == "move":
            step = 1 if args.get("step") == 1 else -1
            text = _edit.move_tag(body, index, step, parse)
        elif op == "add":
            text = _edit.add_tag(body, _str(args.get("tag")), parse)
        elif op == "fix":
            text = self._fix(item, body, args)
        elif op == "fix-all":
            text = self._fix_all(item, body)
        else:
            raise UsageError(f"unknown edit {op!r}")
        return self.check_text(item.id, strip_final_newline(text))

    def _fix(self, item: Item, body: str, args: dict[str, Any]) -> str:
        from anima_caption._review._edit import apply_fix

        code = args.get("code")
        start = args.get("start")
        number = args.get("diagnostic")
        _caption, records = self._check_live(item, body)
        text = body + ("\n" if item.ending else "")
        if isinstance(number, int) and 0 <= number < len(records):
            record = records[number]
            if record.code == code and (record.span is None or record.span[0] == start):
                return apply_fix(text, record)
        for record in records:  # the list moved on: the same code at the same place
            if record.code == code and record.span is not None and record.span[0] == start:
                return apply_fix(text, record)
        raise UsageError(f"{code}: no such diagnostic in the caption any more")

    def _fix_all(self, item: Item, body: str) -> str:
        return self.checker.fix_text(body + ("\n" if item.ending else ""), unsafe=False)

    def complete(self, prefix: str, limit: int = 12) -> list[dict[str, Any]]:
        """Autocompletion: tags starting with ``prefix``, most used first."""
        db = self.checker.db
        if db is None:
            return []
        with self.lock:
            found = db.complete(prefix[:200], limit=max(1, min(limit, 50)))
        return [c._asdict() for c in found]

    # -- dataset panels --------------------------------------------------------------------

    def dataset_json(self) -> dict[str, Any]:
        """Dataset findings with the items they name, policy findings, tag frequency."""
        with self.lock:
            by_key = {i.key: i.id for i in self.items}
            findings = []
            policy = []
            rules: Counter[str] = Counter()
            frequency: Counter[str] = Counter()
            groups: dict[str, Counter[str]] = {}
            for item in self.items:
                for record in item.dataset:
                    rules[f"{record.code}/{record.slug}"] += 1
                    others = [
                        by_key[k] for k in _keys_named(record.message, by_key) if k != item.key
                    ]
                    findings.append(
                        {
                            "code": record.code,
                            "name": f"{record.code}/{record.slug}",
                            "severity": record.severity.value,
                            "message": record.message,
                            "id": item.id,
                            "other": others[0] if others else None,
                        }
                    )
                for record in item.records:
                    rules[f"{record.code}/{record.slug}"] += 1
                    if record.code.startswith("PL"):
                        policy.append(
                            {
                                "code": record.code,
                                "name": f"{record.code}/{record.slug}",
                                "severity": record.severity.value,
                                "message": record.message,
                                "id": item.id,
                            }
                        )
                if item.caption is not None:
                    group_of = self.group_of(item, item.caption)
                    for tag in item.caption.tags:
                        groups.setdefault(tag.text, Counter())[group_of(tag)] += 1
                    for text in {t.text for t in item.caption.tags}:
                        frequency[text] += 1
            return {
                "findings": findings,
                "policy": policy,
                "policy_on": self.policy is not None,
                "rules": sorted(rules.items()),
                "frequency": [
                    [tag, count, groups[tag].most_common(1)[0][0]]
                    for tag, count in frequency.most_common(60)
                ],
                "complete": self.dataset_done,
                "generation": self.generation,
            }

    # -- bulk, save, undo ------------------------------------------------------------------

    def bulk(self, requests: list[dict[str, Any]], action: str, args: dict[str, Any]) -> list[
        dict[str, Any]
    ]:
        """What a bulk action would change, per item: ``{id, key, body, new, diff}`` (only
        the items it changes). ``requests``: ``{id, body}``, the page's current texts."""
        with self.lock:
            return self._bulk(requests, action, args)

    def _bulk(
        self, requests: list[dict[str, Any]], action: str, args: dict[str, Any]
    ) -> list[dict[str, Any]]:
        from anima_caption._io import unified_diff
        from anima_caption._review._edit import bulk

        if len(requests) > MAX_BATCH:
            raise UsageError(f"at most {MAX_BATCH:,} captions at once")
        chosen: list[tuple[Item, str]] = []
        for request in requests:
            item = self.item(request.get("id"))
            if item.loaded is None and item.read_error is None and action != "add":
                continue
            if item.read_error is not None:
                continue
            body = request.get("body")
            chosen.append((item, _body(body) if isinstance(body, str) else item.body))
        texts = [b + ("\n" if i.ending else "") for i, b in chosen]
        new_texts = bulk(
            texts,
            action,
            self.parse,
            tag=_str(args.get("tag")) if action != "fix" else "",
            new=_str(args.get("new")) if action == "replace" else "",
            fix=lambda t: self.checker.fix_text(t, unsafe=False),
        )
        out = []
        for (item, body), new_text in zip(chosen, new_texts, strict=True):
            new_body = strip_final_newline(new_text)
            if new_body == body:
                continue
            out.append(
                {
                    "id": item.id,
                    "key": item.key,
                    "body": body,
                    "new": new_body,
                    "diff": unified_diff(item.key, body + "\n", new_body + "\n"),
                }
            )
        return out

    def save(self, changes: list[dict[str, Any]]) -> dict[str, Any]:
        """Write the edited captions in one journalled run.

        A caption whose file changed on disk since it was loaded is not written: it comes
        back in ``conflicts`` with the text on disk and yours. A caption that does not
        parse is refused. Returns ``{written, run, conflicts, refused, items}``.
        """
        from anima_caption._io import encode_caption
        from anima_caption._journal import FileChangedError, WriteRun, write_refusal

        if self.read_only is not None:
            raise ReadOnlyError(f"not saved: {self.read_only}")
        if len(changes) > MAX_BATCH:
            raise UsageError(f"at most {MAX_BATCH:,} captions at once")
        conflicts: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        planned: list[tuple[Item, bytes, str]] = []
        written: list[Item] = []
        run_id = ""
        with self.lock:
            for change in changes:
                item = self.item(change.get("id"))
                body = _body(change.get("body"))
                if item.read_error is not None:
                    refused.append({"id": item.id, "key": item.key, "reason": item.read_error})
                    continue
                if item.loaded is None and item.image is None:
                    refused.append({"id": item.id, "key": item.key, "reason": "no image"})
                    continue
                problem = write_refusal(item.caption_path, exists=False)
                if problem is not None:
                    refused.append({"id": item.id, "key": item.key, "reason": problem})
                    continue
                disk = _read_or_none(item.caption_path)
                if disk != item.loaded:
                    conflicts.append(self._conflict(item, disk, body))
                    continue
                caption = self.parse(body + item.ending)
                if caption.errors:
                    from anima_caption._errors import line_column

                    first = caption.errors[0]
                    line, column = line_column(body, first.error_span[0])
                    refused.append(
                        {
                            "id": item.id,
                            "key": item.key,
                            "reason": f"does not parse: {line}:{column}: {first.message}",
                        }
                    )
                    continue
                ending = item.ending
                if item.loaded is None:
                    ending = "\n"
                text = body.replace("\n", item.newline) + ending
                data = encode_caption(text, bom=item.bom)
                if data == item.loaded:
                    continue
                planned.append((item, data, body))
            if planned:
                with WriteRun(self.root, self.command) as run:
                    run_id = run.run_id
                    for item, data, body in planned:
                        try:
                            run.write(item.caption_path, data, original=item.loaded)
                        except FileChangedError as error:
                            disk = _read_or_none(item.caption_path)
                            if disk != item.loaded:
                                conflicts.append(self._conflict(item, disk, body))
                            else:
                                refused.append(
                                    {"id": item.id, "key": item.key, "reason": str(error)}
                                )
                            continue
                        written.append(item)
                    if not written:
                        run_id = ""
                for item in written:
                    self._load(item)
                if written:
                    self._recheck_dataset()
            return {
                "written": len(written),
                "run": run_id,
                "conflicts": conflicts,
                "refused": refused,
                "items": [self.item_json(i) for i in written],
            }

    def _conflict(self, item: Item, disk: bytes | None, body: str) -> dict[str, Any]:
        from anima_caption._io import decode_caption

        if disk is None:
            shown = "(the file was deleted)"
        else:
            try:
                shown = strip_final_newline(decode_caption(disk, item.caption_path).text)
            except Exception:
                shown = "(the file on disk cannot be decoded)"
        return {
            "id": item.id,
            "key": item.key,
            "disk": shown.replace("\r\n", "\n"),
            "yours": body,
            "reason": "changed on disk since it was loaded",
        }

    def reload(self, numbers: Iterable[object]) -> list[dict[str, Any]]:
        """Read items again from disk (after a conflict: take the file's text)."""
        with self.lock:
            items = [self.item(n) for n in numbers]
            for item in items:
                self._load(item)
            self._recheck_dataset()
            return [self.item_json(i) for i in items]

    def undo(self) -> dict[str, Any]:
        """Undo the last journalled run in the dataset (``anima-caption undo``)."""
        from anima_caption._journal import undo

        if self.read_only is not None:
            raise ReadOnlyError(f"nothing to undo: {self.read_only}")
        with self.lock:
            result = undo(self.root)
            touched = {p.resolve() for p in [*result.restored, *result.unchanged]}
            items = [i for i in self.items if i.caption_path.resolve() in touched]
            for item in items:
                self._load(item)
            if items:
                self._recheck_dataset()
            return {
                "run": result.run.id if result.run is not None else None,
                "command": result.run.command if result.run is not None else None,
                "restored": [p.relative_to(self.root).as_posix() for p in result.restored],
                "refused": [
                    f"{p.relative_to(self.root).as_posix()}: {why}" for p, why in result.refused
                ],
                "items": [self.item_json(i) for i in items],
            }

    # -- thumbnails ------------------------------------------------------------------------

    def thumbnail(self, number: object, size: str) -> tuple[bytes, str] | str:
        """The thumbnail of item ``number`` as ``(bytes, MIME type)``, or why there is none.

        Only the item's own image is read: a regular file (no link) inside the dataset.
        Thumbnails are cached under the user cache folder, keyed by the image's path, size
        and modification time, never inside the dataset."""
        from anima_caption._io import write_atomic
        from anima_caption._review._thumbs import make_thumbnail

        box = THUMB_SIZES.get(size)
        if box is None:
            raise UsageError(f"size {size!r}: use small or large")
        item = self.item(number)
        image = item.image
        if image is None:
            return "no image"
        problem = self._image_problem(image)
        if problem is not None:
            return problem
        info = image.stat()
        relative = image.relative_to(self.root).as_posix()
        name = hashlib.sha256(
            f"{relative}\0{info.st_size}\0{info.st_mtime_ns}\0{box}".encode()
        ).hexdigest()[:40]
        for fmt in ("jpeg", "png"):
            cached = self.thumb_cache / f"{name}.{fmt}"
            try:
                data = cached.read_bytes()
            except FileNotFoundError:
                continue
            with contextlib.suppress(OSError):
                os.utime(cached)  # recently used: the pruning keeps it longest
            return data, f"image/{fmt}"
        error = self._thumb_errors.get((item.id, name))
        if error is not None:
            return error
        thumb = make_thumbnail(image, box)
        if thumb.data is None:
            self._thumb_errors[(item.id, name)] = thumb.error or "cannot open the image"
            return thumb.error or "cannot open the image"
        try:
            self.thumb_cache.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(self.thumb_cache / f"{name}.{thumb.fmt}", thumb.data)
        except OSError:
            pass  # a read-only cache folder: serve it uncached
        else:
            self._thumb_written += len(thumb.data)
            if self._thumb_written > self.thumb_cache_bytes // 10:
                self.prune_thumbnails()
        return thumb.data, thumb.mime

    def prune_thumbnails(self) -> int:
        """Keep the thumbnail cache (every dataset's) under its size cap, deleting the
        least recently used thumbnails first. Returns how many were deleted."""
        from anima_caption._review._cache import prune

        self._thumb_written = 0
        return prune(self.thumb_root, max_bytes=self.thumb_cache_bytes)

    def _image_problem(self, image: Path) -> str | None:
        try:
            info = os.lstat(image)
        except OSError:
            return "image file not found"
        if not stat.S_ISREG(info.st_mode):
            return "the image is not a regular file (a link?); not shown"
        try:
            image.resolve().relative_to(self.root)
        except ValueError:
            return "the image is outside the dataset; not shown"
        return None


def _status(diagnostics: list[dict[str, Any]], read_error: str | None) -> str:
    severities = {d["severity"] for d in diagnostics}
    if "error" in severities or read_error:
        return "error"
    return "warning" if "warning" in severities else "clean"


def _diagnostic_json(number: int, record: DiagnosticRecord, dataset: bool) -> dict[str, Any]:
    fix = record.fix
    return {
        "n": number,
        "code": record.code,
        "slug": record.slug,
        "name": f"{record.code}/{record.slug}",
        "severity": record.severity.value,
        "message": record.message,
        "line": record.line,
        "column": record.column,
        "start": record.span[0] if record.span is not None else None,
        "end": record.span[1] if record.span is not None else None,
        "fix": None
        if fix is None or not fix.edits
        else {"message": fix.message, "applicability": fix.applicability.value},
        "dataset": dataset,
    }


_PATHISH = re.compile(r"[^\s'\",:;()]+")


def _keys_named(message: str, keys: dict[str, int]) -> list[str]:
    """The item keys a dataset finding's message names (``… while a/b.txt has it``)."""
    return [word for word in _PATHISH.findall(message) if word in keys]


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _body(value: object) -> str:
    if not isinstance(value, str):
        raise UsageError("a caption is a string")
    if len(value) > 1_000_000:
        raise UsageError("a caption of over a million characters")
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _str(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError("a tag is a non-empty string")
    return value
