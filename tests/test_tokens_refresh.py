"""simulator.tokens.refresh: refresh-token rotation with reuse detection (RFC 9700 §4.14)."""

from __future__ import annotations

import threading

import pytest

from simulator.tokens.refresh import (
    REFRESH_REASONS,
    TOKEN_BYTES,
    RefreshTokenFamilies,
    hash_token,
)

HOUR = 3600.0


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def families(clock: FakeClock) -> RefreshTokenFamilies:
    return RefreshTokenFamilies(ttl_s=24 * HOUR, family_ttl_s=72 * HOUR, clock=clock)


def test_rotation_issues_a_new_token_and_invalidates_the_old_one(
    families: RefreshTokenFamilies, clock: FakeClock
) -> None:
    first = families.issue("alice")
    assert first.generation == 0 and first.subject == "alice"
    assert first.expires_at == clock.now + 24 * HOUR
    clock.advance(600)
    result = families.rotate(first.token)
    assert result.ok and result.reason == "ok" and result.issued is not None
    second = result.issued
    assert second.token != first.token
    assert second.family_id == first.family_id and second.generation == 1
    assert second.expires_at == clock.now + 24 * HOUR  # renewed by the rotation
    third = families.rotate(second.token)
    assert third.ok and third.issued is not None and third.issued.generation == 2
    state = families.family(first.family_id)
    assert state is not None and state.rotations == 2 and not state.revoked


def test_a_replay_after_rotation_revokes_the_family_and_the_holder_is_logged_out(
    families: RefreshTokenFamilies,
) -> None:
    stolen = families.issue("alice")  # the attacker copies it
    legit = families.rotate(stolen.token).issued  # the real client rotates first
    assert legit is not None
    replay = families.rotate(stolen.token)
    assert not replay.ok and replay.reason == "reused" and replay.issued is None
    assert replay.family_id == stolen.family_id and replay.subject == "alice"
    state = families.family(stolen.family_id)
    assert state is not None and state.revoked_reason == "reused"
    nxt = families.rotate(legit.token)  # the legitimate holder's next refresh fails
    assert not nxt.ok and nxt.reason == "revoked"


def test_when_the_attacker_rotates_first_the_victims_refresh_kills_the_attackers_token(
    families: RefreshTokenFamilies,
) -> None:
    stolen = families.issue("alice")
    attacker = families.rotate(stolen.token).issued
    assert attacker is not None
    assert families.rotate(stolen.token).reason == "reused"  # the victim's turn
    assert families.rotate(attacker.token).reason == "revoked"


def test_reuse_revokes_only_its_own_family(families: RefreshTokenFamilies) -> None:
    laptop = families.issue("alice")
    phone = families.issue("alice")
    families.rotate(laptop.token)
    assert families.rotate(laptop.token).reason == "reused"
    assert families.rotate(phone.token).ok


def test_a_token_expires_after_its_ttl_and_a_family_after_its_absolute_lifetime(
    families: RefreshTokenFamilies, clock: FakeClock
) -> None:
    idle = families.issue("alice")
    clock.advance(24 * HOUR)
    expired = families.rotate(idle.token)
    assert not expired.ok and expired.reason == "expired"
    state = families.family(idle.family_id)
    assert state is not None and not state.revoked  # expiry is not a theft

    busy = families.issue("bob")
    login_at, token = clock.now, busy.token
    for _ in range(7):  # rotate every 10 h, up to 70 h: never idle for a day...
        clock.advance(10 * HOUR)
        result = families.rotate(token)
        assert result.ok and result.issued is not None
        assert result.issued.expires_at == min(clock.now + 24 * HOUR, login_at + 72 * HOUR)
        token = result.issued.token
    clock.advance(10 * HOUR)  # ...but the family ends 72 h after the login
    assert families.rotate(token).reason == "expired"


def test_the_last_token_of_a_family_expires_with_the_family(clock: FakeClock) -> None:
    families = RefreshTokenFamilies(ttl_s=10 * HOUR, family_ttl_s=15 * HOUR, clock=clock)
    login = families.issue("alice")
    clock.advance(9 * HOUR)
    rotated = families.rotate(login.token).issued
    assert rotated is not None and rotated.expires_at == login.expires_at + 5 * HOUR
    clock.advance(6 * HOUR)
    assert families.rotate(rotated.token).reason == "expired"


@pytest.mark.parametrize("token", ["", "not-a-token", "A" * 43])
def test_an_unknown_token_is_refused_without_touching_any_family(
    families: RefreshTokenFamilies, token: str
) -> None:
    issued = families.issue("alice")
    result = families.rotate(token)
    assert not result.ok and result.reason == "unknown"
    assert result.family_id is None and result.subject is None
    assert families.rotate(issued.token).ok


def test_only_hashes_are_stored_and_tokens_are_256_random_bits(
    families: RefreshTokenFamilies,
) -> None:
    issued = [families.issue(f"user-{i}") for i in range(5)]
    stored = families.stored_hashes()
    assert stored == {hash_token(item.token) for item in issued}
    assert not any(item.token in stored for item in issued)
    assert all(len(item.token) == 43 for item in issued)  # base64url of 32 bytes
    assert TOKEN_BYTES * 8 == 256
    assert len({item.token for item in issued}) == 5


def test_logout_and_logout_everywhere(families: RefreshTokenFamilies) -> None:
    laptop = families.issue("alice")
    phone = families.issue("alice")
    other = families.issue("bob")
    assert families.revoke_family(laptop.family_id)
    assert not families.revoke_family(laptop.family_id)  # already revoked
    assert not families.revoke_family("no-such-family")
    assert families.rotate(laptop.token).reason == "revoked"
    assert families.revoke_subject("alice") == 1  # the phone; the laptop was already out
    assert families.rotate(phone.token).reason == "revoked"
    assert families.rotate(other.token).ok


def test_purge_drops_dead_families_and_their_hashes(
    families: RefreshTokenFamilies, clock: FakeClock
) -> None:
    revoked = families.issue("alice")
    families.revoke_family(revoked.family_id)
    old = families.issue("bob")
    clock.advance(72 * HOUR)
    live = families.issue("carol")
    assert len(families) == 3
    assert families.purge() == 2
    assert len(families) == 1 and families.family(old.family_id) is None
    assert families.stored_hashes() == {hash_token(live.token)}
    assert families.rotate(revoked.token).reason == "unknown"


def test_every_reason_has_a_sentence(families: RefreshTokenFamilies) -> None:
    assert set(REFRESH_REASONS) == {"ok", "unknown", "expired", "reused", "revoked"}
    issued = families.issue("alice")
    assert families.rotate(issued.token).message == REFRESH_REASONS["ok"]


@pytest.mark.parametrize("bad", [0, 0.5, float("nan"), float("inf"), -1])
def test_lifetimes_must_be_at_least_a_second(bad: float) -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        RefreshTokenFamilies(ttl_s=bad)
    with pytest.raises(ValueError, match="at least 1 second"):
        RefreshTokenFamilies(family_ttl_s=bad)


def test_a_subject_is_required(families: RefreshTokenFamilies) -> None:
    with pytest.raises(ValueError, match="subject"):
        families.issue("")


def test_concurrent_replays_of_one_token_issue_at_most_one_new_token(
    families: RefreshTokenFamilies,
) -> None:
    issued = families.issue("alice")
    results = []
    barrier = threading.Barrier(8)

    def refresh() -> None:
        barrier.wait()
        results.append(families.rotate(issued.token))

    threads = [threading.Thread(target=refresh) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result.ok for result in results) == 1
    # the first wins, the second is a replay, the rest find the family revoked
    assert sorted(result.reason for result in results) == ["ok", "reused", *["revoked"] * 6]
