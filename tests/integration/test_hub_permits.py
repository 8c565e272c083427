"""The hub on its own database: only signed, fresh, first-seen messages from registered bodies; the
permit list decides which inquiries get a 提供許可証; 符号 are linked only by a one-time transfer code."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import select

from sesshu.hub.models import HubCode, HubEvent, HubPermit
from sesshu.hub.service import HubContext, HubRefusal, handle, load_config
from sesshu.linkage.envelope import EnvelopeError, load_body_keys, seal_envelope


@pytest.fixture
def hub(db, tmp_path):
    keys = {name: load_body_keys(tmp_path / name) for name in ("hub", "a", "b", "c")}
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "bodies": [{"body_id": body, "name": name, "sign_public": keys[k].sign_public,
                    "hpke_public": keys[k].hpke_public}
                   for k, body, name in (("a", "112020", "熊谷市"), ("b", "112089", "深谷市"))],
        "permits": [{"requester": "112089", "task": "yobo_sesshu", "provider": "112020",
                     "info": "vaccination_history"}]}, allow_unicode=True), encoding="utf-8")
    load_config(db, config)
    return HubContext(db=db, keys=keys["hub"]), keys


def _send(ctx, keys, kind, sender, body, **kw):
    key = {"112020": "a", "112089": "b"}.get(sender, "c")
    return handle(ctx, kind, seal_envelope(keys[key], kind=kind, sender=sender, to="hub", body=body, **kw))


def _linked(ctx, keys) -> tuple[str, str]:
    fugo_a, fugo_b = secrets.token_hex(16), secrets.token_hex(16)
    code = _send(ctx, keys, "move_out", "112020", {"fugo": fugo_a})["transfer_code"]
    assert _send(ctx, keys, "move_in", "112089", {"fugo": fugo_b, "transfer_code": code}) == {"linked_to": "112020"}
    return fugo_a, fugo_b


def test_an_allowed_inquiry_gets_a_permit_that_names_the_provider_code_only_to_the_provider(hub):
    ctx, keys = hub
    fugo_a, fugo_b = _linked(ctx, keys)
    permit = _send(ctx, keys, "inquiry", "112089", {"task": "yobo_sesshu", "info": "vaccination_history",
                                                    "provider": "112020", "fugo": fugo_b})["permit"]
    assert fugo_a not in str(permit) and fugo_b not in str(permit)
    mailbox = _send(ctx, keys, "poll", "112020", {})
    assert [p["permit"]["fugo"] for p in mailbox["permits"]] == [fugo_a]
    assert mailbox["permits"][0]["permit"]["permit_id"] == permit["permit_id"]


def test_inquiries_outside_the_permit_list_are_refused_and_logged(hub, db):
    ctx, keys = hub
    fugo_a, fugo_b = _linked(ctx, keys)
    for sender, body in (("112020", {"provider": "112089", "fugo": fugo_a, "info": "vaccination_history"}),
                         ("112089", {"provider": "112020", "fugo": fugo_b, "info": "relief_benefit"})):
        with pytest.raises(HubRefusal) as e:
            _send(ctx, keys, "inquiry", sender, {"task": "yobo_sesshu", **body})
        assert e.value.code == "E_NOT_PERMITTED"
    with db.transaction() as s:
        assert not s.execute(select(HubPermit)).first()
        assert s.execute(select(HubEvent.detail).where(HubEvent.outcome == "refused")).scalars().all()[-1] \
            .startswith("E_NOT_PERMITTED")


def test_an_inquiry_for_a_person_not_linked_is_refused(hub):
    ctx, keys = hub
    with pytest.raises(HubRefusal) as e:
        _send(ctx, keys, "inquiry", "112089", {"task": "yobo_sesshu", "info": "vaccination_history",
                                               "provider": "112020", "fugo": secrets.token_hex(16)})
    assert e.value.code == "E_NO_LINK"


def test_a_transfer_code_links_once(hub, db):
    ctx, keys = hub
    fugo_a = secrets.token_hex(16)
    code = _send(ctx, keys, "move_out", "112020", {"fugo": fugo_a})["transfer_code"]
    _send(ctx, keys, "move_in", "112089", {"fugo": secrets.token_hex(16), "transfer_code": code})
    with pytest.raises(HubRefusal) as e:
        _send(ctx, keys, "move_in", "112089", {"fugo": secrets.token_hex(16), "transfer_code": code})
    assert e.value.code == "E_TRANSFER"
    with db.transaction() as s:
        keys_of = s.execute(select(HubCode.person_key)).scalars().all()
        assert len(keys_of) == 2 and len(set(keys_of)) == 1
        assert code not in str(s.execute(select(HubEvent.detail)).scalars().all())


def test_unsigned_stale_replayed_and_unknown_messages_are_refused(hub):
    ctx, keys = hub
    env = seal_envelope(keys["b"], kind="poll", sender="112089", to="hub", body={})
    handle(ctx, "poll", env)
    with pytest.raises(HubRefusal) as e:
        handle(ctx, "poll", env)
    assert e.value.code == "E_REPLAY"
    forged = seal_envelope(keys["a"], kind="poll", sender="112089", to="hub", body={})  # A's key, B's name
    with pytest.raises(EnvelopeError) as e:
        handle(ctx, "poll", forged)
    assert e.value.code == "E_SIGNATURE"
    old = datetime.now(timezone.utc) - timedelta(minutes=10)
    with pytest.raises(EnvelopeError) as e:
        _send(ctx, keys, "poll", "112089", {}, now=old)
    assert e.value.code == "E_STALE"
    with pytest.raises(HubRefusal) as e:
        _send(ctx, keys, "poll", "999999", {})
    assert e.value.code == "E_UNKNOWN_BODY"
