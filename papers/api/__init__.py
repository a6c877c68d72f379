"""The JSON API under /api/: papers (with the list's filters), issues, tags, arXiv categories,
authors and search, with an OpenAPI schema django-ninja generates from the code
(/api/openapi.json) and interactive docs at /api/docs.

Query parameters arrive as strings and are checked by the same forms as the pages
(PaperListForm, SearchForm), so the API and the pages accept and refuse the same values with
the same messages; a refused request is a 400 {"error", "fields"}, never a 422 or a 500."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError
from ninja.renderers import JSONRenderer

from papers.api import routes


class ReadableJSONRenderer(JSONRenderer):
    json_dumps_params = {"ensure_ascii": False}  # Korean and Chinese stay readable


class PapersAPI(NinjaAPI):
    def get_content_type(self) -> str:
        return "application/json"  # JSON is UTF-8 by definition (RFC 8259); what /api/search always sent


def build_api() -> NinjaAPI:
    # The routes live in the papers URL namespace, so /api/search keeps its name papers:api_search.
    api = PapersAPI(
        title="paper-digest", version="1", urls_namespace="papers", renderer=ReadableJSONRenderer(),
        description="A weekly ML paper digest and multilingual knowledge base (ko, zh, en).",
    )
    api.add_router("/", routes.router)

    @api.exception_handler(ValidationError)
    def invalid_parameters(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        lines = [f"{'.'.join(str(part) for part in e.get('loc', [])[1:])}: {e.get('msg', '')}" for e in exc.errors]
        return api.create_response(request, {"error": " ".join(lines), "fields": {}}, status=400)

    return api


api = build_api()
