"""A new instance takes this machine's time zone for its schedules and times: the TZ
variable, /etc/timezone, or where /etc/localtime points; UTC when none names a known zone."""

from __future__ import annotations

import pytest

from esync_site.instance_setup import machine_time_zone


@pytest.fixture
def etc(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    return folder


def test_the_tz_variable_comes_first(etc):
    (etc / "timezone").write_text("Asia/Tokyo\n")
    assert machine_time_zone({"TZ": ":Europe/Paris"}, etc) == "Europe/Paris"


def test_then_etc_timezone_then_the_localtime_link(etc):
    (etc / "localtime").symlink_to("/usr/share/zoneinfo/America/New_York")
    assert machine_time_zone({}, etc) == "America/New_York"
    (etc / "timezone").write_text("Asia/Tokyo\n")
    assert machine_time_zone({}, etc) == "Asia/Tokyo"


@pytest.mark.parametrize("tz", ["CET-1CEST", "../../etc/passwd", "/usr/share/zoneinfo/UTC",
                                "Mars/Olympus"])
def test_what_is_not_a_known_zone_name_is_passed_over(etc, tz):
    (etc / "timezone").write_text("Europe/Lisbon")
    assert machine_time_zone({"TZ": tz}, etc) == "Europe/Lisbon"


def test_utc_under_any_of_its_names_is_utc_and_nothing_at_all_is_utc(etc):
    (etc / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    assert machine_time_zone({}, etc) == "UTC"
    assert machine_time_zone({}, etc / "missing") == "UTC"
