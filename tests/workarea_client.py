"""A plain HTTP client that signs in to a running instance's Workarea like a browser would."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request


class WorkareaClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=10) as response:
            return response.read().decode()

    def sign_in(self, username: str, password: str) -> str:
        form = self.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({
            "csrfmiddlewaretoken": token, "username": username, "password": password,
            "next": "/workarea/",
        }).encode()
        request = urllib.request.Request(self.base_url + "/accounts/login/", data=data,
                                         headers={"Referer": self.base_url + "/accounts/login/"})
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()
