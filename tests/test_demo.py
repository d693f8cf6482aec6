"""`esync demo`: staging and production on this machine, staging seeded, both answering."""

import json
import signal
import subprocess

import pytest

from esync_site.demo import DEMO_PASSWORD
from esync_site.supervisor import port_in_use
from tests.real_instances import ESYNC, RealInstance, child_environment, run_esync, wait_for_http
from tests.services import IN_CI
from tests.workarea_client import WorkareaClient

pytestmark = pytest.mark.slow

COUNT_CONTENT = ("import json; from cms.models import Content, User; print(json.dumps("
                 "[Content.objects.filter(status='A').count(), "
                 "sorted(User.objects.values_list('username', 'kind'))]))")


def test_setup_creates_staging_with_sample_content_and_an_empty_production(tmp_path):
    result = run_esync("demo", "--dir", str(tmp_path), "--setup-only")
    assert result.returncode == 0, result.stderr
    staging = RealInstance(tmp_path / "staging", "staging", 8000, 8732)
    production = RealInstance(tmp_path / "production", "production", 8001, 8733)
    approved, users = json.loads(staging.python(COUNT_CONTENT))
    assert approved == 6
    assert ["visitor1", "membership"] in users and ["jsmith", "cms"] in users
    assert json.loads(production.python(COUNT_CONTENT)) == [0, [["admin", "cms"]]]
    assert {p.name for p in (tmp_path / "staging/siteroot/uploadedimages").iterdir()} == {
        "logo.png", "banner.png", "widget.png"}
    assert (staging.info()["ports"], production.info()["ports"]) == (
        {"web": 8000, "sync": 8732}, {"web": 8001, "sync": 8733})
    # Running the setup again changes nothing.
    assert run_esync("demo", "--dir", str(tmp_path), "--setup-only").returncode == 0
    assert json.loads(staging.python(COUNT_CONTENT))[0] == 6


def test_the_demo_brings_up_both_and_staging_shows_its_content(tmp_path):
    if any(port_in_use("127.0.0.1", port) for port in (8000, 8001)):
        if IN_CI:
            pytest.fail("ports 8000/8001 are taken in CI")
        pytest.skip("ports 8000/8001 are in use here (a demo already running?)")
    demo = subprocess.Popen([*ESYNC, "demo", "--dir", str(tmp_path)], env=child_environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_http("http://127.0.0.1:8000/accounts/login/", timeout=90) == 200
        assert wait_for_http("http://127.0.0.1:8001/accounts/login/", timeout=30) == 200
        staging = WorkareaClient("http://127.0.0.1:8000")
        page = staging.sign_in("admin", DEMO_PASSWORD)
        assert "esync <strong>staging</strong>" in page
        news = staging.get("/workarea/?folder=" + _folder_id(tmp_path, "News"))
        assert "Spring launch" in news and "Approved" in news
        production = WorkareaClient("http://127.0.0.1:8001")
        assert "esync <strong>production</strong>" in production.sign_in("admin", DEMO_PASSWORD)
        # The demo exchanged certificates: each side reaches the other's sync service.
        for home, port in (("staging", 8733), ("production", 8732)):
            result = run_esync("--home", str(tmp_path / home), "certs", "test",
                               f"127.0.0.1:{port}")
            assert result.returncode == 0 and "Connection OK" in result.stdout, result.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0


def _folder_id(base, name: str) -> str:
    staging = RealInstance(base / "staging", "staging", 8000, 8732)
    return staging.python(
        f"from cms.models import Folder; print(Folder.objects.get(name='{name}').id)"
    ).strip()
