"""Rotating the signals' matching key, and the start-up check that key file and database agree.

A rotation adds a fresh key to the chain and re-keys every stored pseudonym in one database
transaction (``p' = HMAC(k_new, p)``), with the chain's fingerprint stored beside the signals.
The key file cannot be part of that transaction, so the new chain is first written beside the
old one (``signal-pseudonym.key.next``) and put in place after the commit; a start-up that finds
the database already on the ``.next`` chain finishes the swap, and one that finds the database
still on the old chain removes the ``.next`` file (the rotation did not happen). Any other
mismatch stops the gateway: it would otherwise never match a signal again, silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from gateway.clock import utc_now
from gateway.errors import ConfigurationError
from gateway.keys import read_signal_keys, write_signal_keys
from gateway.ledger.writer import Ledger, Record
from gateway.rowseals import RowSeals
from gateway.signals.lifecycle import stamp
from gateway.signals.pseudonyms import KEY_BYTES, SignalKeys, rekey
from gateway.signals.store import require_sealed
from gateway.signals.tables import signal, signal_key_state

log = structlog.get_logger(__name__)

_BATCH = 5_000


def _next_path(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def _state(conn: Connection) -> str | None:
    return conn.execute(
        select(signal_key_state.c.fingerprint).where(signal_key_state.c.id == 1)
    ).scalar_one_or_none()


def check_signal_keys(
    db: Engine, keys: SignalKeys, path: Path, passphrase: bytes | None
) -> SignalKeys:
    """The chain to use, after making sure it is the one the stored signals were made with."""
    nxt = _next_path(path)
    with db.begin() as conn:
        state = _state(conn)
        if state is None:
            conn.execute(
                insert(signal_key_state).values(
                    id=1,
                    fingerprint=keys.fingerprint,
                    generation=keys.generation,
                    changed_at=stamp(utc_now()),
                )
            )
            state = keys.fingerprint
    if state == keys.fingerprint:
        if nxt.exists():
            nxt.unlink()  # a rotation that stopped before its commit: it did not happen
            log.warning("signals.rotation_abandoned", note="the database kept the old key")
        return keys
    if nxt.exists():
        pending = SignalKeys.from_bytes(read_signal_keys(nxt, passphrase))
        if pending.fingerprint == state:
            nxt.replace(path)  # the rotation committed; finish putting its key in place
            log.warning("signals.rotation_completed", generation=pending.generation)
            return pending
    raise ConfigurationError(
        f"{path.name} is not the key the stored signals were made with (generation "
        f"{keys.generation}); restore the key file that belongs to this database"
    )


@dataclass(frozen=True)
class Rotation:
    old_fingerprint: str
    new_fingerprint: str
    generation: int
    rekeyed: int


def rotate_signal_keys(
    db: Engine,
    ledger: Ledger,
    keys: SignalKeys,
    path: Path,
    passphrase: bytes | None,
    policy_version: str,
    *,
    by: str,
    seals: RowSeals,
    progress: Callable[[int], None] | None = None,
) -> Rotation:
    """Every stored pseudonym re-keyed, and its row sealed anew — after every row was checked
    against its seal (a rotation must not launder a row written behind the gateway's back)."""
    with db.connect() as conn:
        for row in conn.execute(select(signal)):
            require_sealed(seals, "signal", row._mapping)
    new = keys.rotated(os.urandom(KEY_BYTES))
    nxt = _next_path(path)
    write_signal_keys(nxt, new.to_bytes(), passphrase)
    with db.connect() as conn:
        count = conn.execute(select(func.count()).select_from(signal)).scalar_one()
    body = {
        "from": keys.fingerprint,
        "to": new.fingerprint,
        "generation": new.generation,
        "signals": count,
        "by": by,
    }
    ledger.append(Record.gateway_event("signal_key.rotate", policy_version, body))
    key = new.keys[-1]
    done = 0
    with db.begin() as conn:
        if _state(conn) != keys.fingerprint:
            raise ConfigurationError("the signal key was rotated meanwhile by another process")
        rows = conn.execute(select(signal)).all()
        statement = (
            update(signal)
            .where(signal.c.id == bindparam("sid"))
            .values(pseudonym=bindparam("p"), seal=bindparam("s"))
        )

        def rekeyed(row: Any) -> dict[str, str]:
            # Checked again in this transaction: the check above was before the ledger entry.
            require_sealed(seals, "signal", row._mapping)
            pseudonym = rekey(key, row.pseudonym)
            seal = seals.seal("signal", {**row._mapping, "pseudonym": pseudonym})
            return {"sid": row.id, "p": pseudonym, "s": seal}

        for i in range(0, len(rows), _BATCH):
            batch = rows[i : i + _BATCH]
            conn.execute(statement, [rekeyed(r) for r in batch])
            done += len(batch)
            if progress is not None:
                progress(len(batch))
        conn.execute(
            update(signal_key_state)
            .where(signal_key_state.c.id == 1)
            .values(
                fingerprint=new.fingerprint,
                generation=new.generation,
                changed_at=stamp(utc_now()),
            )
        )
    nxt.replace(path)
    return Rotation(keys.fingerprint, new.fingerprint, new.generation, done)
