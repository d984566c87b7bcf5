"""Redis Sentinel: one URL form for the broker (kombu) and for vecq's own state (redis-py).

``sentinel://[[user]:password@]host:port;sentinel://host:port;.../db?master_name=NAME``
lists the sentinels, ``;``-separated as kombu writes them, with the master's database and
name on the last part. The password (on the first part) is the master's; sentinels are asked
without one, as both kombu and redis-py do by default. Every connection finds the current
master through the sentinels, so a failover is a reconnect: calls in flight fail with a
connection error (retried like any Redis outage) and the next ones reach the new master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

if TYPE_CHECKING:  # redis-py is imported where a client is made: settings stay cheap to load
    import redis


SCHEME = "sentinel://"


def is_sentinel(url: str | None) -> bool:
    """True for a ``sentinel://`` URL."""
    return bool(url) and str(url).startswith(SCHEME)


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed ``sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        """Parse ``url``; ``ValueError`` says what is wrong with it."""
        hosts: list[tuple[str, int]] = []
        username = password = None
        db, master = 0, None
        for n, part in enumerate(url.split(";")):
            split = urlsplit(part.strip())
            if split.scheme != "sentinel" or not split.hostname:
                raise ValueError(f"sentinel URL part {n + 1} ({part!r}): want sentinel://host:port")
            hosts.append((split.hostname, split.port or 26379))
            if split.password is not None or split.username:
                username = unquote(split.username) if split.username else None
                password = unquote(split.password) if split.password is not None else None
            if split.path.strip("/"):
                try:
                    db = int(split.path.strip("/"))
                except ValueError:
                    raise ValueError(
                        f"sentinel URL: database {split.path.strip('/')!r} is not a number"
                    ) from None
            names = parse_qs(split.query).get("master_name")
            if names:
                master = names[-1]
        if not master:
            raise ValueError(
                "sentinel URL: name the master with ?master_name=NAME "
                "(e.g. sentinel://s1:26379;sentinel://s2:26379/0?master_name=mymaster)"
            )
        return cls(tuple(hosts), master, db, username, password)

    @property
    def broker_url(self) -> str:
        """The URL as kombu's sentinel transport takes it (the master's name goes separately,
        in the transport options)."""
        auth = ""
        if self.password is not None:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        return ";".join(f"sentinel://{auth}{h}:{p}/{self.db}" for h, p in self.sentinels)

    def master_client(self, **kwargs: Any) -> redis.Redis:
        """A client of the current master; it finds the new one after a failover."""
        timeouts = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
        from redis.sentinel import Sentinel

        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=timeouts)
        client: redis.Redis = sentinel.master_for(
            self.master, db=self.db, username=self.username, password=self.password, **kwargs
        )
        return client
