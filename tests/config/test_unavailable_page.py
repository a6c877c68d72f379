"""The 503 page a reader sees while a server restarts is in their language."""

import pytest
from django.template.loader import render_to_string
from django.utils import translation


@pytest.mark.parametrize(("lang", "title", "body"), [
    ("ko", "잠시 후 돌아옵니다", "사이트 일부가 다시 시작되는 중입니다"),
    ("zh-hans", "马上回来", "网站的一部分正在重启"),
    ("en", "Back in a moment", "Part of the site is restarting."),
])
def test_the_503_page_is_translated(lang, title, body):
    with translation.override(lang):
        page = render_to_string("503.html", {"retry_after": 5})
    assert title in page and body in page
