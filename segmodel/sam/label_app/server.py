"""The labelling page's HTTP layer: the standard library's ThreadingHTTPServer, one local user.

Routes (every request but the icon needs the session token as `?token=` or the
`X-Segkit-Token` header, else 403; JSON answers unless stated):
  GET  /favicon.ico           the page's icon (SVG), without a token: browsers ask for it
                              without the page's query string
  GET  /                      the page (HTML)
  GET  /static/NAME           the page's script and style sheet
  GET  /api/images            [{"name", "status", "width", "height"}]; also {"labelled", "total"}
                              in the X-Segkit-Progress header
  GET  /api/image/NAME        the photo's bytes; starts encoding it (and the next image to do)
  GET  /api/prompts/NAME      {"objects": [...]} recorded when NAME was accepted ([] if none)
  GET  /api/labels/NAME       {"objects": [{"class", "points", "labels", "box", "mask_png"}]}
                              saved for NAME, for re-opening (Pets layout: prompts only)
  GET  /api/classes           [{"id": 1, "name", "color": [r, g, b]}, ...] ([] without classes)
  GET  /api/progress          the session's progress (per class with classes)
  POST /api/predict           {"image", "objects"} -> {"mask_png" (union), "masks_png" (one
                              per object), "scores", "ms"}
  POST /api/accept            {"image", "objects" (each may carry "mask_png")} ->
                              {"trimap" | "mask", "labelled", "total"}
  POST /api/skip              {"image"} -> {"status", "labelled", "total"}
An unknown image is 404, bad prompts or masks 400 with the reason in {"error": ...}.
"""

import hmac
import http.server
import importlib.resources
import json
import secrets
import sys
import time
import traceback
import urllib.parse

from segmodel.sam.label_app.masks_io import BadRequest, NotFound, class_list, mask_b64, union

TOKEN_HEADER = "X-Segkit-Token"
MAX_BODY = 64 << 20  # prompts and a few edited mask PNGs (KBs each); refuse anything absurd
_ASSETS = {"label.js": "text/javascript", "label.css": "text/css"}


def page_asset(name):
    """The bytes of a file of the page (package data under segmodel/sam/label_app/page/)."""
    return importlib.resources.files("segmodel.sam.label_app").joinpath("page", name).read_bytes()


class LabelServer(http.server.ThreadingHTTPServer):
    """Serves one `LabelSession` (may be set after binding, before `serve_forever`).
    `url` is the page's address, token included."""

    daemon_threads = True

    def __init__(self, session, host="127.0.0.1", port=8765, token=None):
        self.session = session
        self.token = token or secrets.token_urlsafe(24)
        super().__init__((host, port), _Handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/?token={self.token}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "segkit-label"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # one local user; the terminal shows only the URL and errors

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj, headers=()):
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _error(self, status, message):
        # A refused request's body may be unread: close rather than misparse it as the next.
        self.close_connection = True
        self._json(status, {"error": message}, headers=[("Connection", "close")])

    def _authorized(self, query):
        given = self.headers.get(TOKEN_HEADER) or query.get("token", [""])[0]
        return hmac.compare_digest(given.encode(), self.server.token.encode())

    def _body(self):
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("The request needs a Content-Length header.") from None
        if not 0 <= length <= MAX_BODY:
            raise BadRequest(f"The request body must be at most {MAX_BODY} bytes.")
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError as err:
            raise BadRequest(f"The request body is not JSON ({err}).") from None
        if not isinstance(body, dict) or not isinstance(body.get("image"), str):
            raise BadRequest('The request body must be an object with "image": a file name.')
        return body

    def _dispatch(self, routes):
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query)
        if routes is _GET_ROUTES and parts.path == "/favicon.ico":
            return self._send(200, page_asset("favicon.svg"), "image/svg+xml")
        if not self._authorized(query):
            return self._error(403, "Missing or wrong token: open the URL that label_app "
                                    "printed (it ends in ?token=...).")
        path = parts.path
        for route, handler in routes:
            takes_name = route.endswith("/NAME")
            prefix = route[:-len("NAME")] if takes_name else route
            if path.startswith(prefix) if takes_name else path == route:
                args = (urllib.parse.unquote(path[len(prefix):]),) if takes_name else ()
                try:
                    return handler(self, *args)
                except NotFound as err:
                    return self._error(404, str(err))
                except BadRequest as err:
                    return self._error(400, str(err))
                except (BrokenPipeError, ConnectionResetError):
                    return None
                except Exception as err:  # noqa: BLE001 - answer, and say so on the terminal
                    traceback.print_exc(file=sys.stderr)
                    return self._error(500, f"{type(err).__name__}: {err}")
        return self._error(404, f"No such page: {path}")

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._dispatch(_GET_ROUTES)

    def do_POST(self):  # noqa: N802
        self._dispatch(_POST_ROUTES)

    # -- routes -----------------------------------------------------------------------------

    def page(self):
        html = page_asset("index.html").decode().replace("__TOKEN__", self.server.token)
        self._send(200, html.encode(), "text/html; charset=utf-8")

    def static(self, name):
        if name not in _ASSETS:
            raise NotFound(f"No page file {name!r}.")
        self._send(200, page_asset(name), _ASSETS[name])

    def images(self):
        session = self.server.session
        progress = session.progress()
        self._json(200, session.images(),
                   headers=[("X-Segkit-Progress", json.dumps(progress))])

    def image(self, name):
        session = self.server.session
        data, content_type = session.image_bytes(name)
        session.open(name)
        self._send(200, data, content_type)

    def prompts(self, name):
        self._json(200, {"objects": self.server.session.prompts(name)})

    def labels(self, name):
        self._json(200, {"objects": self.server.session.labels(name)})

    def classes(self):
        self._json(200, class_list(self.server.session.classes))

    def progress(self):
        self._json(200, self.server.session.progress())

    def predict(self):
        started = time.perf_counter()
        body = self._body()
        masks, scores, _ = self.server.session.predict_objects(body["image"], body.get("objects"))
        self._json(200, {"mask_png": mask_b64(union(masks)),
                         "masks_png": [mask_b64(m) for m in masks], "scores": scores,
                         "ms": 1000.0 * (time.perf_counter() - started)})

    def accept(self):
        body = self._body()
        self._json(200, self.server.session.accept(body["image"], body.get("objects")))

    def skip(self):
        body = self._body()
        self._json(200, self.server.session.skip(body["image"]))


_GET_ROUTES = [("/", _Handler.page), ("/static/NAME", _Handler.static),
               ("/api/images", _Handler.images), ("/api/image/NAME", _Handler.image),
               ("/api/prompts/NAME", _Handler.prompts), ("/api/labels/NAME", _Handler.labels),
               ("/api/classes", _Handler.classes), ("/api/progress", _Handler.progress)]
_POST_ROUTES = [("/api/predict", _Handler.predict), ("/api/accept", _Handler.accept),
                ("/api/skip", _Handler.skip)]
