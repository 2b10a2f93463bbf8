"""Outcomes, decided without I/O: a fetch result and the page step's output in, a record and the
requests to queue out."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from multidict import CIMultiDict

from crawler.config import Config
from crawler.errors import ErrorKind
from crawler.models import (
    CrawlRequest,
    Exchange,
    FetchResult,
    FollowRequest,
    PageOutput,
    RequestOptions,
)
from crawler.outcome import OutcomePolicy, OutcomeRules, SeenCache, given_up
from crawler.urls import ScopePolicy, parse_absolute

PAGE = CrawlRequest("http://a.test/", "a.test", 2, "http://a.test/parent", retries=1, id=7)
SCOPE = ScopePolicy("host", ["a.test"], deny=[r"/private/"])


def policy(**settings: object) -> OutcomePolicy:
    config = Config(**settings)  # type: ignore[arg-type]
    return OutcomePolicy(OutcomeRules.for_config(config))


def fetched(
    status: int | None = 200,
    *,
    body: bytes = b"<a href=x>",
    error: ErrorKind | None = None,
    robots_tag: str | None = None,
    hops: tuple[str, ...] = (),
) -> FetchResult:
    targets = tuple(target for target in map(parse_absolute, hops) if target is not None)
    return FetchResult(
        PAGE,
        targets[-1].url if targets else PAGE.url,
        status,
        "text/html" if status is not None else None,
        body,
        error,
        "2026-11-30T00:00:00.000Z",
        12,
        robots_tag=robots_tag,
        hops=targets,
        redirects=len(targets),
    )


def links(*urls: str) -> PageOutput:
    return PageOutput([target for target in map(parse_absolute, urls) if target is not None])


def test_a_page_is_recorded_with_its_size_digest_and_timing() -> None:
    outcome = policy().decide(fetched(body=b"hello"), PageOutput(), SCOPE)

    record = outcome.record
    assert (record.url, record.final_url, record.status, record.error) == (
        PAGE.url,
        PAGE.url,
        200,
        None,
    )
    assert (record.depth, record.parent, record.retries) == (2, "http://a.test/parent", 1)
    assert (record.size, record.sha256) == (5, hashlib.sha256(b"hello").hexdigest())
    assert (record.fetched_at, record.elapsed_ms) == ("2026-11-30T00:00:00.000Z", 12)
    assert outcome.request is PAGE


def test_links_in_scope_are_queued_one_deeper_with_the_page_as_parent() -> None:
    output = links("http://a.test/1", "http://b.test/other-host", "http://a.test/private/x")

    outcome = policy().decide(fetched(), output, SCOPE)

    assert [(r.url, r.host, r.depth, r.parent) for r in outcome.discovered] == [
        ("http://a.test/1", "a.test", 3, PAGE.url)
    ]


def test_a_link_seen_lately_is_not_queued_again() -> None:
    decide = policy().decide

    first = decide(fetched(), links("http://a.test/1", "http://a.test/1"), SCOPE)
    second = decide(fetched(), links("http://a.test/1", "http://a.test/2"), SCOPE)

    assert [r.url for r in first.discovered] == ["http://a.test/1"]
    assert [r.url for r in second.discovered] == ["http://a.test/2"]


def test_links_past_max_depth_are_not_queued() -> None:
    outcome = policy(max_depth=2).decide(fetched(), links("http://a.test/1"), SCOPE)

    assert outcome.discovered == ()


def test_trap_links_are_dropped_and_counted_by_limit() -> None:
    deep = "http://a.test/" + "/".join(f"d{n}" for n in range(40))
    long = "http://a.test/" + "x" * 3000
    repeated = "http://a.test/a/b/a/b/a/b/a/b"

    outcome = policy().decide(fetched(), links(deep, long, repeated, "http://a.test/ok"), SCOPE)

    assert [r.url for r in outcome.discovered] == ["http://a.test/ok"]
    assert outcome.limits_hit == {"path_too_deep": 1, "url_too_long": 1, "repeated_segment": 1}


def test_links_past_the_per_page_cap_are_counted_not_queued() -> None:
    urls = [f"http://a.test/{n}" for n in range(5)]
    output = PageOutput(links(*urls).links, dropped_links=10)

    outcome = policy(max_links_per_page=3).decide(fetched(), output, SCOPE)

    assert [r.url for r in outcome.discovered] == urls[:3]
    assert outcome.limits_hit == {"links_per_page": 12}


def test_a_page_keeps_its_links_in_scope_but_those_to_pages_known_fine() -> None:
    decide = policy().decide
    for url, status in (("http://a.test/ok", 200), ("http://a.test/bad", 404)):
        request = replace(PAGE, url=url)
        decide(replace(fetched(status), request=request, final_url=url), PageOutput(), SCOPE)
    deep = "http://a.test/" + "/".join(f"d{n}" for n in range(40))
    output = links(
        "http://a.test/ok",
        "http://a.test/bad",
        "http://a.test/new",
        "http://a.test/new",
        PAGE.url,
        "http://b.test/other-host",
        "http://a.test/private/x",
        deep,
    )

    outcome = decide(fetched(), output, SCOPE)

    assert sorted(outcome.linked) == ["http://a.test/bad", "http://a.test/new"]


def test_links_past_max_depth_are_kept_though_not_queued() -> None:
    output = links("http://a.test/1", "http://b.test/1")

    outcome = policy(max_depth=2).decide(fetched(), output, SCOPE)

    assert (outcome.discovered, outcome.linked) == ((), ("http://a.test/1",))


def test_follow_requests_keep_their_options_and_are_deduplicated_by_variant() -> None:
    target = parse_absolute("http://a.test/search")
    assert target is not None
    post = RequestOptions(method="POST", body=b"q=1", variant="POST 1")
    output = PageOutput(follows=[FollowRequest(target, post), FollowRequest(target, post)])

    outcome = policy().decide(fetched(), output, SCOPE)

    assert [(r.url, r.options) for r in outcome.discovered] == [("http://a.test/search", post)]


def test_each_redirect_hop_gets_a_record_of_its_own() -> None:
    result = fetched(hops=("http://a.test/b", "http://a.test/c"))

    outcome = policy().decide(result, PageOutput(), SCOPE)

    assert outcome.record.final_url == "http://a.test/c"
    assert outcome.record.redirects == 2
    assert [(r.url, r.parent) for r, _ in outcome.redirected] == [
        ("http://a.test/b", PAGE.url),
        ("http://a.test/c", PAGE.url),
    ]
    assert [(rec.url, rec.redirects) for _, rec in outcome.redirected] == [
        ("http://a.test/b", 1),
        ("http://a.test/c", 0),
    ]


def test_a_failed_fetch_is_recorded_without_size_digest_or_links() -> None:
    result = fetched(None, body=b"", error=ErrorKind.TIMEOUT)

    outcome = policy().decide(result, links("http://a.test/1"), SCOPE)

    record = outcome.record
    assert (record.status, record.final_url, record.size, record.sha256) == (None, None, 0, None)
    assert record.error == "timeout"  # an ErrorKind is its string in the record


def test_the_page_steps_error_wins_over_the_fetchs() -> None:
    output = PageOutput(error=ErrorKind.HANDLER)

    outcome = policy().decide(fetched(404, error=ErrorKind.HTTP), output, SCOPE)

    assert (outcome.record.status, outcome.record.error) == (404, "handler")


def test_bodies_are_kept_as_asked_but_never_for_noindex_pages() -> None:
    body = b"<p>text</p>"
    noindex_meta = b'<meta name="robots" content="noindex"><p>text</p>'

    kept = policy(store_bodies="html").decide(fetched(body=body), PageOutput(), SCOPE)
    not_asked = policy().decide(fetched(body=body), PageOutput(), SCOPE)
    by_header = policy(store_bodies="all").decide(
        fetched(body=body, robots_tag="noindex"), PageOutput(), SCOPE
    )
    by_meta = policy(store_bodies="all").decide(fetched(body=noindex_meta), PageOutput(), SCOPE)
    ignoring_meta = policy(store_bodies="all", ignore_robots_meta=True).decide(
        fetched(body=noindex_meta), PageOutput(), SCOPE
    )

    assert kept.capture is not None
    assert (kept.capture.body, not_asked.capture) == (body, None)
    assert (by_header.capture, by_meta.capture) == (None, None)
    assert ignoring_meta.capture is not None
    assert ignoring_meta.capture.body == noindex_meta


def test_a_kept_body_comes_with_the_request_and_response_heads() -> None:
    sent = CIMultiDict([("Host", "a.test"), ("User-Agent", "crawler")])
    received = CIMultiDict([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Server", "é")])
    post = RequestOptions(method="POST", body=b"q=1", variant="POST 1")
    result = replace(
        fetched(body=b"<p>"),
        request=replace(PAGE, options=post),
        headers=received,
        exchange=Exchange("POST", sent, b"q=1", "1.0", "Fine"),
    )

    capture = policy(store_bodies="all").decide(result, PageOutput(), SCOPE).capture

    assert capture is not None
    assert capture.request == (b"POST / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: crawler\r\n\r\nq=1")
    assert capture.response_head == (
        b"HTTP/1.0 200 Fine\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nServer: \xe9\r\n\r\n"
    )
    assert capture.body == b"<p>"


def test_a_stalled_request_is_recorded_with_its_kind_and_no_answer() -> None:
    outcome = given_up(PAGE, ErrorKind.STALLED)

    assert (outcome.record.url, outcome.record.status, outcome.record.error) == (
        PAGE.url,
        None,
        "stalled",
    )
    assert outcome.discovered == ()


def test_the_seen_cache_forgets_the_oldest_url_beyond_its_size() -> None:
    cache = SeenCache(2)

    added = [cache.add(url) for url in ("a", "b", "a", "c")]

    assert added == [True, True, False, True]
    assert cache.add("c") is False
    assert cache.add("a") is True  # "a" was the oldest when "c" came in
    assert [cache.state_of(url) for url in "abcd"] == [False, None, False, None]  # "b" went


def test_the_seen_cache_knows_which_urls_were_fetched_fine() -> None:
    cache = SeenCache(3)
    cache.add("a")
    cache.add("b")

    cache.mark_fine("a")
    cache.mark_fine("z")  # fetched fine without being queued here (a seed): remembered

    assert [cache.state_of(url) for url in "abz"] == [True, False, True]
    assert cache.not_fine(["a", "b", "c", "z"]) == ["b", "c"]
    assert cache.add("z") is False
    cache.mark_fine("d")  # the fourth: "a", the oldest, goes
    assert cache.state_of("a") is None
