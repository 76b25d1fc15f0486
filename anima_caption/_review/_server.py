"""``anima-caption review serve``: the live review as a local web app (Starlette + uvicorn).

Everything the page does goes through :class:`~anima_caption._review._session.ReviewSession`;
this module only speaks HTTP. Access needs the per-run token: in the URL printed at start
(``/?token=…``, which sets a ``SameSite=Strict`` cookie and redirects to ``/``), then the
cookie; every API call that changes something must also carry it in the
``X-Review-Token`` header (a page on another site cannot set that header, so it cannot
make the browser save or undo). Wrong or missing token: 403. The server binds to
127.0.0.1 unless told otherwise; the page loads nothing from the network (its own script
and style only, under a strict Content-Security-Policy).

Starlette, uvicorn and Jinja2 are the ``serve`` extra: imported only by this command.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_caption._errors import AnimaCaptionError, UsageError
from anima_caption._version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from anima_caption._review._session import ReviewSession

COOKIE = "anima_review_token"
HEADER = "x-review-token"
#: The largest request body accepted (a save of every caption of a big dataset fits).
MAX_BODY = 32 * 1024 * 1024
_HERE = Path(__file__).resolve().parent
#: The page's own files, by the name the page asks for (nothing else is ever served).
STATIC = {
    "serve.js": ("static/serve.js", "text/javascript; charset=utf-8"),
    "serve.css": ("static/serve.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}

MISSING_EXTRA = (
    "review serve needs Starlette, uvicorn and Jinja2: pip install 'anima-caption[serve]'"
)


def new_token() -> str:
    """A fresh per-run token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def require_extra() -> None:
    """Raise a one-line :class:`UsageError` when the ``serve`` extra is not installed."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError(MISSING_EXTRA) from None


def create_app(session: ReviewSession, token: str) -> Starlette:
    """The ASGI app serving ``session``, open to requests carrying ``token``."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
    from starlette.responses import Response as PlainResponse
    from starlette.routing import Route

    templates = Environment(
        loader=FileSystemLoader(str(_HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    static_files = {
        name: ((_HERE / path).read_bytes(), mime) for name, (path, mime) in STATIC.items()
    }

    async def in_pool(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a session call in the thread pool, the background check giving way."""

        def call() -> Any:
            with session.request():
                return function(*args, **kwargs)

        return await run_in_threadpool(call)

    def authorised(request: Request, *, write: bool) -> bool:
        given = request.cookies.get(COOKIE, "")
        header = request.headers.get(HEADER, "")
        if write:  # state changes need the header: a cross-site form cannot send it
            return hmac.compare_digest(header.encode(), token.encode())
        return any(hmac.compare_digest(v.encode(), token.encode()) for v in (given, header))

    def refused() -> Response:
        return PlainTextResponse(
            "403: this review server needs its token: open the URL it printed at start",
            status_code=403,
        )

    def secured(response: Response) -> Response:
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    Handler = Callable[["Request"], Awaitable["Response"]]

    def guarded(handler: Handler, *, write: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not authorised(request, write=write):
                return secured(refused())
            try:
                return secured(await handler(request))
            except UsageError as error:
                return secured(JSONResponse({"error": str(error)}, status_code=400))
            except AnimaCaptionError as error:
                return secured(JSONResponse({"error": str(error)}, status_code=409))

        return endpoint

    async def body(request: Request) -> dict[str, Any]:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            raise UsageError("request too large")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise UsageError("request too large")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise UsageError("the request is not JSON") from None
        if not isinstance(data, dict):
            raise UsageError("the request is a JSON object")
        return data

    def int_param(request: Request, name: str, default: int) -> int:
        value = request.query_params.get(name)
        if value is None:
            return default
        if not value.isdigit():
            raise UsageError(f"{name}: a number")
        return int(value)

    async def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return secured(refused())
            # Trade the token in the URL for a cookie, so that it leaves the address bar.
            redirect = RedirectResponse("/", status_code=303)
            redirect.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
            return secured(redirect)
        if not authorised(request, write=False):
            return secured(refused())
        page = templates.get_template("serve.html").render(
            title=f"{session.root.name} — caption review",
            dataset=session.root.name,
            token=token,
            grouping=session.grouping,
            version=__version__,
            policy_on=session.policy is not None,
            read_only=session.read_only,
        )
        return secured(PlainResponse(page, media_type="text/html; charset=utf-8"))

    async def static(request: Request) -> Response:
        found = static_files.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        return PlainResponse(found[0], media_type=found[1])

    async def thumb(request: Request) -> Response:
        number = request.path_params["number"]
        size = request.query_params.get("size", "small")
        answer = await in_pool(session.thumbnail, number, size)
        if isinstance(answer, str):
            return PlainTextResponse(answer, status_code=404)
        response = PlainResponse(answer[0], media_type=answer[1])
        response.headers["cache-control"] = "private, max-age=3600"
        return response

    async def items(request: Request) -> Response:
        offset = int_param(request, "offset", 0)
        limit = min(int_param(request, "limit", 200), 10_000)
        # A screenful is checked before it is answered; larger pages come parsed, and
        # their diagnostics follow through /api/updates as the background check goes.
        check = request.query_params.get("check", "1" if limit <= 200 else "0") == "1"
        data = await in_pool(session.items_json, offset, limit, check=check)
        return JSONResponse(data)

    async def updates(request: Request) -> Response:
        since = int_param(request, "since", 0)
        return JSONResponse(await in_pool(session.updates, since))

    async def status(request: Request) -> Response:
        return JSONResponse(session.status())

    async def dataset(request: Request) -> Response:
        return JSONResponse(await in_pool(session.dataset_json))

    async def complete(request: Request) -> Response:
        prefix = request.query_params.get("q", "")
        limit = int_param(request, "limit", 12)
        found = await in_pool(session.complete, prefix, limit)
        return JSONResponse({"completions": found})

    async def check(request: Request) -> Response:
        data = await body(request)
        return JSONResponse(
            await in_pool(session.check_text, data.get("id"), data.get("body"))
        )

    async def suggest(request: Request) -> Response:
        data = await body(request)
        found = await in_pool(
            session.suggestions, data.get("id"), data.get("body"), data.get("index")
        )
        return JSONResponse({"suggestions": found})

    async def edit(request: Request) -> Response:
        data = await body(request)
        op = data.get("op")
        if not isinstance(op, str):
            raise UsageError("op: the edit to make")
        return JSONResponse(
            await in_pool(session.edit, data.get("id"), data.get("body"), op, data)
        )

    async def bulk(request: Request) -> Response:
        data = await body(request)
        action = data.get("action")
        requests = data.get("items")
        if not isinstance(action, str) or not isinstance(requests, list):
            raise UsageError("action and items, please")
        if not all(isinstance(r, dict) for r in requests):
            raise UsageError("items: objects with id and body")
        changes = await in_pool(session.bulk, requests, action, data)
        return JSONResponse({"changes": changes})

    async def save(request: Request) -> Response:
        data = await body(request)
        changes = data.get("changes")
        if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
            raise UsageError("changes: a list of {id, body}")
        return JSONResponse(await in_pool(session.save, changes))

    async def reload(request: Request) -> Response:
        data = await body(request)
        ids = data.get("ids")
        if not isinstance(ids, list):
            raise UsageError("ids: a list of item numbers")
        return JSONResponse({"items": await in_pool(session.reload, ids)})

    async def undo(request: Request) -> Response:
        await body(request)
        return JSONResponse(await in_pool(session.undo))

    async def not_found(request: Request) -> Response:
        if not authorised(request, write=False):
            return secured(refused())
        return secured(PlainTextResponse("not found", status_code=404))

    async def favicon(request: Request) -> Response:
        return secured(PlainResponse(status_code=204))  # no icon; browsers ask anyway

    routes = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/static/{name}", guarded(static)),
        Route("/thumb/{number:int}", guarded(thumb)),
        Route("/api/items", guarded(items)),
        Route("/api/status", guarded(status)),
        Route("/api/updates", guarded(updates)),
        Route("/api/dataset", guarded(dataset)),
        Route("/api/complete", guarded(complete)),
        Route("/api/check", guarded(check, write=True), methods=["POST"]),
        Route("/api/suggest", guarded(suggest, write=True), methods=["POST"]),
        Route("/api/edit", guarded(edit, write=True), methods=["POST"]),
        Route("/api/bulk", guarded(bulk, write=True), methods=["POST"]),
        Route("/api/save", guarded(save, write=True), methods=["POST"]),
        Route("/api/reload", guarded(reload, write=True), methods=["POST"]),
        Route("/api/undo", guarded(undo, write=True), methods=["POST"]),
        Route("/{rest:path}", not_found),
    ]
    return Starlette(routes=routes)


def free_port(host: str) -> int:
    """A port nobody listens on now (for ``--port 0``)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def banner(host: str, port: int, token: str, items: int) -> str:
    """What ``review serve`` prints at start: the URL and how to reach it over SSH."""
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/?token={token}"
    lines = [
        f"reviewing {items} image(s) and caption(s); open:",
        f"  {url}",
        "",
        "on a remote machine, forward the port from your own computer first:",
        f"  ssh -N -L {port}:127.0.0.1:{port} USER@THIS-HOST",
        f"then open http://127.0.0.1:{port}/?token={token} there.",
        "The token is this run's key: anyone with it can edit the captions. Ctrl+C stops.",
    ]
    if host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(f"warning: listening on {host}: other machines can reach this server")
    return "\n".join(lines)


def run_server(session: ReviewSession, host: str, port: int, token: str) -> None:
    """Serve until interrupted (uvicorn, one process, access log off)."""
    import uvicorn

    app = create_app(session, token)
    print(banner(host, port, token, len(session.items)), file=sys.stderr, flush=True)
    if session.read_only is not None:
        print(f"read-only: {session.read_only}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()
