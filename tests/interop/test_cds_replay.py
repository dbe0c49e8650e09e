"""The replay store: every verified token remembered until it expires, in memory allocated once, O(1) a call."""

from __future__ import annotations

import tracemalloc

import pytest
from fastapi.testclient import TestClient

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.replay import NO_ENTRY, ReplayStore, ReplayStoreFullError

from .cds import BASE, NOW, settings, token

PATH = "/cds-services"


def longest_chain(store: ReplayStore) -> int:
    """The most entries one lookup can walk: the longest chain of the hash table."""
    longest = 0
    for first in store._table:
        length, entry = 0, first
        while entry != NO_ENTRY:
            length, entry = length + 1, store._chain[entry]
        longest = max(longest, length)
    return longest


def test_replay_store_forgets_tokens_once_they_expire():
    """Remembered jtis are released when their token expires, so the store holds the live tokens only."""
    store = ReplayStore(2000)
    for index in range(1000):
        assert store.add(f"iss|{index}", expires=NOW + 10 + index % 5, now=NOW)
    assert len(store) == 1000
    assert store.add("iss|late", expires=NOW + 100, now=NOW + 20)
    assert len(store) == 1 and list(store.expiring) == [NOW + 101]


def test_replay_store_still_refuses_a_live_token_twice():
    """A jti seen before its token expired is a replay, even among many others."""
    store = ReplayStore(2000)
    for index in range(1000):
        store.add(f"iss|{index}", expires=NOW + 300, now=NOW)
    assert not store.add("iss|500", expires=NOW + 300, now=NOW + 1)
    assert len(store) == 1000


def test_replay_store_drops_entries_second_by_second_and_never_early():
    """Under steady traffic each entry goes in the first call after its expiry, and not a second before."""
    store = ReplayStore(100)
    for index in range(10):
        store.add(f"iss|{index}", expires=NOW + index + 0.5, now=NOW)
    store.add("iss|a", expires=NOW + 100, now=NOW + 0.9)
    assert len(store) == 11  # iss|0 expires at NOW + 0.5 but the sweep works in whole seconds
    store.add("iss|b", expires=NOW + 100, now=NOW + 3.0)
    assert len(store) == 12 - 3  # iss|0, iss|1, iss|2 expired before NOW + 3
    assert not store.add("iss|3", expires=NOW + 100, now=NOW + 3.2)


def test_a_full_replay_store_refuses_new_tokens_and_forgets_none_early():
    """With every slot holding a live token, a new token is refused; the live ones stay replays until they expire."""
    store = ReplayStore(3)
    for index in range(3):
        store.add(f"iss|{index}", expires=NOW + 10 * (index + 1), now=NOW)
    with pytest.raises(ReplayStoreFullError, match="full"):
        store.add("iss|new", expires=NOW + 300, now=NOW + 1)
    assert [store.add(f"iss|{index}", expires=NOW + 300, now=NOW + 2) for index in range(3)] == [False] * 3
    assert store.add("iss|new", expires=NOW + 300, now=NOW + 11)  # iss|0's slot was released at NOW + 11
    assert not store.add("iss|1", expires=NOW + 300, now=NOW + 11)


def test_released_slots_are_reused_so_a_store_holds_traffic_far_beyond_its_capacity():
    """At 50 calls a second with tokens kept 1 second, a store of 150 takes 10,000 tokens without filling up."""
    store = ReplayStore(150)
    for second in range(200):
        for call in range(50):
            assert store.add(f"iss|{second}.{call}", expires=NOW + second + 1, now=NOW + second)
    assert len(store) <= 150 and store._never_used <= 150


def test_replay_store_lookups_walk_about_one_entry_whatever_its_size():
    """Full to its capacity, a lookup walks a chain of a few entries at most, never the store."""
    store = ReplayStore(1 << 16)
    for index in range(1 << 16):
        store.add(f"iss|{index}", expires=NOW + 300, now=NOW)
    assert len(store) == 1 << 16 and longest_chain(store) <= 12


def test_replay_store_allocates_nothing_that_stays_under_steady_traffic():
    """200 calls a second with tokens kept a minute, for five minutes: after its arrays, made at start, the store
    keeps only its index of expiry seconds, a few kilobytes. (The set it replaced grew by about 90 bytes a token
    over the first token lifetime, and its table was rebuilt as it filled.)"""
    store = ReplayStore(20_000)
    rate, lifetime = 200, 60
    tracemalloc.start()
    try:
        for second in range(300):
            now = NOW + second
            for call in range(rate):
                store.add(f"iss|{second}.{call}", expires=now + lifetime, now=now)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store) == rate * (lifetime + 1)
    assert held < 16 * 1024


def test_the_capacity_must_fit_slot_numbers():
    """A store of no slots, or of more than C ints can number, is a configuration error."""
    for capacity in (0, 2**31):
        with pytest.raises(ValueError, match="capacity"):
            ReplayStore(capacity)
    with pytest.raises(ValueError, match="replay_store_capacity"):
        settings(replay_store_capacity=0)


def test_a_token_with_a_far_exp_is_remembered_only_for_the_maximum_lifetime():
    """A token valid for ten years is remembered until iat + max lifetime + leeway, when it is refused anyway."""
    test_settings = settings()
    app = create_cds_app(test_settings)
    far = token(BASE + PATH, exp=NOW + 10 * 365 * 86400)
    assert TestClient(app).get(PATH, headers={"Authorization": f"Bearer {far}"}).status_code == 200
    replays = app.state.verifier.replays
    kept_until = NOW + test_settings.jwt_max_lifetime_seconds + test_settings.jwt_leeway_seconds
    assert list(replays.expiring) == [kept_until + 1]  # released by the first call after that second
    replays.add("iss|other", expires=kept_until + 100, now=kept_until)
    assert len(replays) == 2
    replays.add("iss|later", expires=kept_until + 100, now=kept_until + 1)
    assert len(replays) == 2 and list(replays.expiring) == [kept_until + 101]


def test_the_service_answers_503_when_its_replay_store_is_full():
    """A verified new token the store cannot remember is refused with 503 and a reason; a replay is still 401."""
    client = TestClient(create_cds_app(settings(replay_store_capacity=1)))
    first = token(BASE + PATH)
    assert client.get(PATH, headers={"Authorization": f"Bearer {first}"}).status_code == 200
    full = client.get(PATH, headers={"Authorization": f"Bearer {token(BASE + PATH)}"})
    assert full.status_code == 503 and "replay store is full" in full.json()["reason"]
    replayed = client.get(PATH, headers={"Authorization": f"Bearer {first}"})
    assert replayed.status_code == 401 and "replay" in replayed.json()["reason"]
