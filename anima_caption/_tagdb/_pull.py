"""``tagdb pull``: fetch Danbooru's public API pages, resumably, then build the database.

Each endpoint is walked by id (``page=a<last id>``, ``limit`` rows a page); every page is
saved as a JSON file in a state directory next to the database, and ``state.json``
remembers the last id, so a restart continues where it stopped. Requests are spaced by a
polite rate limit and retried with exponential backoff (``Retry-After`` honoured). When the
last page is in, the pages are imported like any other API JSON files and the database is
written atomically.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from anima_caption._tagdb._builder import Builder, BuildResult
from anima_caption._tagdb._errors import PullError
from anima_caption._version import __version__

DEFAULT_BASE_URL = "https://danbooru.donmai.us"
USER_AGENT = f"anima-caption/{__version__} (tag database pull)"


def user_agent(contact: str | None = None) -> str:
    """The User-Agent sent: :data:`USER_AGENT`, with ``contact`` (an e-mail address or a
    URL, ``--contact``) so that the site's operators can reach whoever is pulling."""
    if not contact:
        return USER_AGENT
    return f"anima-caption/{__version__} (tag database pull; +{contact})"


def check_contact(contact: str) -> str:
    """``contact`` if it can go in an HTTP header (printable ASCII, at most 200
    characters, no parentheses); else :class:`ValueError` saying why."""
    contact = contact.strip()
    if not contact:
        raise ValueError("--contact is empty")
    if len(contact) > 200:
        raise ValueError("--contact is over 200 characters")
    if not all(32 <= ord(c) < 127 for c in contact) or any(c in "()" for c in contact):
        raise ValueError(
            f"--contact {contact!r}: printable ASCII without parentheses only "
            "(an e-mail address or a URL)"
        )
    return contact

#: name -> (path, fixed query parameters)
ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "tags": ("/tags.json", {"search[hide_empty]": "yes", "search[is_deprecated]": "no"}),
    "deprecated": ("/tags.json", {"search[is_deprecated]": "yes"}),
    "aliases": ("/tag_aliases.json", {}),
    "implications": ("/tag_implications.json", {}),
}
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: The largest answer read (a page of 1,000 tags is a few hundred KB); a server sending
#: more is refused rather than read into memory.
MAX_RESPONSE_BYTES = 32 << 20


@dataclass
class PullOptions:
    """Knobs of a pull (the CLI exposes them as options)."""

    base_url: str = DEFAULT_BASE_URL
    limit: int = 1000
    rate: float = 1.0  #: requests per second at most
    retries: int = 5
    backoff: float = 2.0  #: first retry delay in seconds, doubled each time
    timeout: float = 30.0
    endpoints: tuple[str, ...] = tuple(ENDPOINTS)
    restart: bool = False
    keep_pages: bool = False
    contact: str | None = None
    """An e-mail address or URL added to the User-Agent (see :func:`user_agent`)."""
    progress: TextIO | None = None
    sleep: Callable[[float], None] = field(default=time.sleep)


def state_dir_for(db_path: Path) -> Path:
    """Where the pages of an unfinished pull of ``db_path`` are kept."""
    return db_path.with_name(db_path.name + ".pull")


class _Progress:
    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and stream.isatty())

    def update(self, endpoint: str, pages: int, rows: int) -> None:
        if self.stream is not None and self.tty:
            self.stream.write(f"\r  {endpoint}: {pages:,} pages, {rows:,} rows ")
            self.stream.flush()

    def done(self, endpoint: str, pages: int, rows: int, resumed: bool) -> None:
        if self.stream is None:
            return
        if self.tty:
            self.stream.write("\r")
        note = " (resumed)" if resumed else ""
        self.stream.write(f"  {endpoint}: {pages:,} pages, {rows:,} rows{note}\n")
        self.stream.flush()


class _Client:
    def __init__(self, options: PullOptions) -> None:
        self.options = options
        self._last = 0.0

    def get(self, url: str) -> list[dict[str, Any]]:
        opts = self.options
        delay = opts.backoff
        attempt = 0
        while True:
            wait = self._last + 1.0 / opts.rate - time.monotonic() if opts.rate > 0 else 0.0
            if wait > 0:
                opts.sleep(wait)
            self._last = time.monotonic()
            request = urllib.request.Request(
                url,
                headers={"User-Agent": user_agent(opts.contact), "Accept": "application/json"},
            )
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=opts.timeout) as response:
                    body = response.read(MAX_RESPONSE_BYTES + 1)
                if len(body) > MAX_RESPONSE_BYTES:
                    raise PullError(
                        f"{url}: the answer is over {MAX_RESPONSE_BYTES:,} bytes; refused"
                    )
                try:
                    data = json.loads(body)
                except RecursionError:
                    raise PullError(f"{url}: unexpected answer (JSON nested too deep)") from None
                if not isinstance(data, list):
                    raise PullError(f"{url}: unexpected answer (not a JSON list): {body[:200]!r}")
                return data
            except urllib.error.HTTPError as error:
                if error.code not in _RETRY_STATUSES:
                    raise PullError(f"{url}: HTTP {error.code} {error.reason}") from error
                reason = f"HTTP {error.code} {error.reason}"
                header = error.headers.get("Retry-After") if error.headers else None
                if header and header.strip().isdigit():
                    retry_after = float(header.strip())
            except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
                inner = getattr(error, "reason", error)
                reason = str(inner)
            except ValueError as error:
                reason = f"invalid JSON ({error})"
            attempt += 1
            if attempt > opts.retries:
                host = urllib.parse.urlsplit(url).netloc
                raise PullError(
                    f"cannot fetch from {host} after {attempt} attempts ({reason}); "
                    "check the connection and rerun `anima-caption tagdb pull` to resume"
                )
            opts.sleep(max(delay, retry_after or 0.0))
            delay *= 2


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    tmp.replace(path)


def pull(db_path: Path, options: PullOptions | None = None) -> BuildResult:
    """Fetch every page (resuming an earlier pull), then build ``db_path`` from them."""
    opts = options or PullOptions()
    unknown = [e for e in opts.endpoints if e not in ENDPOINTS]
    if unknown:
        raise PullError(f"unknown endpoint(s): {', '.join(unknown)}")
    state_dir = state_dir_for(db_path)
    if opts.restart and state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / "state.json"
    state: dict[str, Any] = {}
    if state_file.exists():
        try:
            state = json.loads(state_file.read_text("utf-8"))
        except ValueError:
            state = {}
        if state.get("base_url") != opts.base_url or state.get("limit") != opts.limit:
            shutil.rmtree(state_dir)
            state_dir.mkdir(parents=True)
            state = {}
    state.setdefault("base_url", opts.base_url)
    state.setdefault("limit", opts.limit)
    endpoints: dict[str, Any] = state.setdefault("endpoints", {})
    client = _Client(opts)
    progress = _Progress(opts.progress)
    for name in opts.endpoints:
        path, params = ENDPOINTS[name]
        entry = endpoints.setdefault(name, {"after": 0, "pages": 0, "rows": 0, "done": False})
        resumed = entry["pages"] > 0
        page_dir = state_dir / name
        page_dir.mkdir(exist_ok=True)
        while not entry["done"]:
            query = dict(params, limit=str(opts.limit), page=f"a{entry['after']}")
            url = f"{opts.base_url.rstrip('/')}{path}?{urllib.parse.urlencode(query)}"
            rows = client.get(url)
            ids = [r["id"] for r in rows if isinstance(r, dict) and isinstance(r.get("id"), int)]
            if rows:
                _write_json(page_dir / f"{entry['pages'] + 1:06d}.json", rows)
                entry["pages"] += 1
                entry["rows"] += len(rows)
            if ids and max(ids) <= entry["after"]:
                # Pages are walked by id: an answer with nothing past the last id would be
                # asked for again and again.
                raise PullError(
                    f"{url}: the server answered with rows already fetched (ids up to "
                    f"{max(ids)}, asked for ids after {entry['after']}); stopping"
                )
            if ids:
                entry["after"] = max(ids)
            if len(rows) < opts.limit or not ids:
                entry["done"] = True
            _write_json(state_file, state)
            progress.update(name, entry["pages"], entry["rows"])
        progress.done(name, entry["pages"], entry["rows"], resumed)

    builder = Builder()
    base = opts.base_url.rstrip("/")
    for name in opts.endpoints:
        pages = sorted((state_dir / name).glob("*.json"))
        if not pages:
            continue
        label = f"{base}{ENDPOINTS[name][0]}" + (" (deprecated)" if name == "deprecated" else "")
        if name in ("tags", "deprecated"):
            builder.add_tags(pages, name=label)
        else:
            builder.add_relations(name, pages, name=label)  # type: ignore[arg-type]
    result = builder.write(db_path)
    if not opts.keep_pages:
        shutil.rmtree(state_dir, ignore_errors=True)
    return result


def default_progress() -> TextIO | None:
    """stderr (progress is drawn only when it is a terminal; otherwise one line each)."""
    return sys.stderr
