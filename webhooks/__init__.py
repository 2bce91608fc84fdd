"""Messages in and out.

Inbound: the inbox (``inbox.py``, table ``provider_events``) stores every verified provider
message once, unique per provider and message, before it is applied — bank credit notices,
VNPAY IPNs and POS results all go through it.

Outbound: the transactional outbox (``outbox.py``), endpoints and their secrets
(``endpoints.py``), Standard Webhooks signing (``signing.py``), the URL policy and the
connect-time resolver against SSRF (``url_policy.py``, ``resolver.py``), the back-off schedule
(``schedule.py``), one delivery attempt (``sender.py``), the delivery worker (``delivery.py``)
and what a portal can see of its events (``events.py``).
"""
