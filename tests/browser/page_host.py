"""The function app served on loopback for the browser: the host ``make serve`` runs
(``devtools.function_host``), remembering what each HTTP function was asked."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit

import azure.functions as func
from azure.functions.decorators.function_app import Function

from devtools.function_host import HOST, ROUTE_PREFIX, Route, index, make_server

KEY = "test-function-key"


class PageHost:
    """Every HTTP function of the app on 127.0.0.1 (a free port), each request a real
    ``func.HttpRequest``; ``requests`` holds the path and query of each one a function answered."""

    def __init__(self, functions: Iterable[Function]) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        served = index(functions)
        routes = tuple(dataclasses.replace(route, function=self._recorded(route)) for route in served.routes)
        self.server = make_server(dataclasses.replace(served, routes=routes), port=0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/{ROUTE_PREFIX}"

    def page(self, **params: str) -> str:
        return f"{self.base}/timeline?" + urlencode({"code": KEY, **params})

    def start(self) -> PageHost:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _recorded(self, route: Route):
        def answer(request: func.HttpRequest) -> func.HttpResponse:
            self.requests.append((urlsplit(request.url).path, dict(request.params)))
            return route.function(request)

        return answer
