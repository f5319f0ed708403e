"""The API's browsable docs work under the site's Content Security Policy: Swagger UI's files
come from the platform itself (django-ninja's static files), nothing from another host, no
script or style refused, and the operations of the OpenAPI document are listed."""

import urllib.parse


def test_the_api_docs_render_under_the_csp_from_the_platforms_own_files(page, live_platform):
    refused, hosts = [], set()
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.on("request", lambda request: hosts.add(urllib.parse.urlsplit(request.url).netloc))
    response = page.goto("/api/v1/docs")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path", timeout=20000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/consults/{consult_id}" in path for path in paths), paths
    assert refused == []
    assert hosts == {urllib.parse.urlsplit(live_platform).netloc}
