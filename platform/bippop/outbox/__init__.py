"""The transactional outbox of a tenant: one row per message (``models``), written in the transaction of
the change it announces (``writing``), then announced once that change is committed (``after_commit``:
the delivery job is enqueued by its name, and the tenant noted for the sweeper).

It sits below the accounts and every other domain that writes mail, and names none of them: delivering
(channels, providers, digests, the sweeper) is ``bippop.notifications``'s, which declares the actor.
"""
