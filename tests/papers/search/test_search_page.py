"""The search page: a whole page for a plain GET, the results block for htmx."""


def test_plain_get_renders_the_whole_page_with_results_and_filters(search_corpus, client, client_ip):
    response = client.get("/search/", {"q": "검색 증강 생성", "lang": "ko"}, REMOTE_ADDR=client_ip)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert 'id="results"' in body and body.count('class="search-hit"') == 10
    assert '<option value="ko" lang="ko" selected>' in body  # the filter keeps its value
    assert 'value="검색 증강 생성"' in body  # and so does the box
    assert "<mark>검색</mark>" in body


def test_htmx_request_gets_only_the_results_block(search_corpus, client, client_ip):
    response = client.get("/search/", {"q": "mixture of experts"}, HTTP_HX_REQUEST="true", REMOTE_ADDR=client_ip)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "<header" not in body
    assert body.count('class="search-hit"') == 10 and "MoE-LLaVA" in body
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(search_corpus, client, client_ip):
    response = client.get(
        "/search/", {"q": "rag"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true", REMOTE_ADDR=client_ip
    )
    assert "<html" in response.content.decode()


def test_empty_page_shows_a_hint_and_no_results(search_corpus, client, client_ip):
    body = client.get("/search/", REMOTE_ADDR=client_ip).content.decode()
    assert "Type a few words in any language" in body and 'class="search-hit"' not in body


def test_no_match_says_so(search_corpus, client, client_ip):
    body = client.get("/search/", {"q": "rag", "date_from": "2030-01-01"}, REMOTE_ADDR=client_ip).content.decode()
    assert "No papers match “rag” with these filters." in body


def test_every_page_has_the_live_search_box(search_corpus, client, client_ip):
    body = client.get("/tags/", REMOTE_ADDR=client_ip).content.decode()
    assert 'id="search-box"' in body and 'hx-get="/search/"' in body and 'hx-push-url="true"' in body
    assert 'class="search-panel"' in body  # results appear under the box on pages other than search
    assert 'action="/search/" method="get"' in body  # and it is a plain form without JS


def test_titles_follow_the_interface_language(search_corpus, client, client_ip):
    body = client.get("/search/", {"q": "corrective retrieval"}, HTTP_ACCEPT_LANGUAGE="ko", REMOTE_ADDR=client_ip).content.decode()
    assert "CRAG: 자가 수정 검색 증강 생성" in body
