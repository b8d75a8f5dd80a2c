"""Proxy URLs (parse, redact, refuse), Chromium's proxy flags, and how a session treats a page
that did not load (engine/proxy.py, bridge.PageUnreachable), with a fake browser."""

from pathlib import Path

import pytest

from waengine.config import load_config
from waengine.engine import flags as chromium_flags
from waengine.engine.bridge import PageUnreachable
from waengine.engine.proxy import ProxyError, failure_reason, parse_proxy, redact_proxy

from ..conftest import wait_for
from .fakes import FakeFactory


def test_a_proxy_url_splits_into_chromiums_server_and_the_credentials():
    proxy = parse_proxy("http://us%40er:p%3Ass@proxy.lan:3128")
    assert proxy.server == "http://proxy.lan:3128"
    assert (proxy.username, proxy.password) == ("us@er", "p:ss")
    assert proxy.redacted == "http://us@er:***@proxy.lan:3128"
    assert parse_proxy("socks5://10.0.0.5:1080/").server == "socks5://10.0.0.5:1080"
    assert redact_proxy("https://a:secret@h:8443") == "https://a:***@h:8443"
    assert redact_proxy(None) is None


@pytest.mark.parametrize("url, says", [
    ("socks5://u:p@10.0.0.5:1080", "SOCKS5"),
    ("ftp://h:21", "scheme"),
    ("http://h", "port"),
    ("http://h:0", "port"),
    ("http://h:99999", "Not a proxy URL"),
    ("http://u@h:80", "user:password"),
    ("http://h:80/path", "path"),
    ("http://h:80?x=1", "query"),
    ("http://h h:80", "Not a proxy URL"),
])
def test_an_unusable_proxy_url_says_why(url, says):
    with pytest.raises(ProxyError, match=says):
        parse_proxy(url)


def test_the_network_error_names_the_reason():
    assert failure_reason("ERR_NAME_NOT_RESOLVED", proxied=False) == "wa_unreachable"
    assert failure_reason("ERR_PROXY_CONNECTION_FAILED", proxied=True) == "proxy_unreachable"
    assert failure_reason("ERR_TUNNEL_CONNECTION_FAILED", proxied=True) == "proxy_unreachable"
    assert failure_reason("ERR_CONNECTION_REFUSED", proxied=True) == "wa_unreachable"
    assert failure_reason("ERR_PROXY_AUTH_UNSUPPORTED", proxied=True) == "proxy_auth_failed"


def test_chromium_gets_the_proxy_address_but_never_its_password():
    config = load_config({"ENV": "testing", "CHROMIUM": "/nonexistent/chromium"}, environ={})
    server = parse_proxy("http://u:pw-in-url@10.0.0.5:3128").server
    args = chromium_flags.chrome_options(config, Path("/data/profiles/s1"), server).arguments
    assert "--proxy-server=http://10.0.0.5:3128" in args
    assert "--proxy-bypass-list=<-loopback>" in args
    assert not any("pw-in-url" in a for a in args)
    plain = chromium_flags.chrome_options(config, Path("/data/profiles/s1")).arguments
    assert not any(a.startswith("--proxy") for a in plain)


class UnreachableFactory(FakeFactory):
    """A browser that launches but whose page gets `error` (through `proxy`, when given)."""

    def __init__(self, error: str, reason: str):
        super().__init__()
        self.error, self.reason, self.proxies = error, reason, []

    def open(self, session_id, proxy=None):
        self.proxies.append(proxy)
        failed = PageUnreachable(self.error, "https://web.whatsapp.com/")
        failed.reason = self.reason
        raise failed


@pytest.fixture
def factory():
    return UnreachableFactory("ERR_NAME_NOT_RESOLVED", "wa_unreachable")


def test_an_unreachable_page_is_retried_then_fails_with_the_error(client, factory):
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    failed = wait_for(lambda: (s := client.get("/sessions/s1").json)["status"] == "FAILED" and s)
    assert failed["statusReason"] == "wa_unreachable"
    assert failed["statusDetails"] == {"error": "ERR_NAME_NOT_RESOLVED",
                                       "url": "https://web.whatsapp.com/"}
    assert len(factory.proxies) == 3 and failed["restarts"] == 2  # RESTART_MAX=3 (FAST)
    assert factory.proxies == [None, None, None]


def test_a_refused_proxy_password_fails_at_once_and_the_proxy_reaches_the_factory(client,
                                                                                  factory):
    factory.reason = "proxy_auth_failed"
    created = client.post("/sessions", json={"id": "s2", "proxy": "http://u:hunter2222@h:3128"})
    assert created.status_code == 201 and created.json["proxy"] == "http://u:***@h:3128"
    failed = wait_for(lambda: (s := client.get("/sessions/s2").json)["status"] == "FAILED" and s)
    assert failed["statusReason"] == "proxy_auth_failed" and failed["restarts"] == 0
    assert factory.proxies == ["http://u:hunter2222@h:3128"]

    moved = client.put("/sessions/s2/proxy", json={"proxy": "socks5://h:1080"})
    assert moved.status_code == 202 and moved.json["proxy"] == "socks5://h:1080"
    wait_for(lambda: factory.proxies[-1] == "socks5://h:1080", message="relaunched via socks5")
    assert client.put("/sessions/s2/proxy", json={"proxy": "socks5://u:p@h:1080"}
                      ).status_code == 422
    assert client.put("/sessions/nope/proxy", json={"proxy": None}).status_code == 404
