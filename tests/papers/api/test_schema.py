"""The API against its own OpenAPI schema: schemathesis generates requests for every operation
from /api/openapi.json and sends them to the Django app (WSGI, the test database with the
seed corpus and fetched arXiv papers); no answer may be a 5xx, and every answer must match
the schema (status code, content type, headers, body)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from papers.ingest import arxiv

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_schema(imported_seeds, pipeline_settings, arxiv_feed, settings):
    arxiv_feed.serve("search_page1.atom", "search_page2.atom", "search_page3.atom")
    arxiv.fetch_new()
    settings.SEARCH_RATE_LIMIT = 0  # the budget is tested elsewhere; here it would answer 429s only
    # As Django's test client does: the WSGI handler would close the test's connection (and
    # its transaction) at the end of every request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_answer_matches_the_schema_and_none_is_a_server_error(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "GET /api/papers", "GET /api/papers/{paper_id}", "GET /api/issues", "GET /api/issues/{week}",
        "GET /api/tags", "GET /api/categories", "GET /api/authors/{slug}", "GET /api/search",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            # Parameters are plain strings in the schema, checked by the pages' forms: "an
            # existing tag" cannot be said in OpenAPI, so a schema-valid request may rightly get a 400.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        answers_as_documented()
