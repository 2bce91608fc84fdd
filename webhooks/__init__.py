"""Inbound provider-message verification and de-duplication (the inbox), and outbound
signed webhooks to the portal (outbox, Standard Webhooks signing, retries).

The inbox currently lives beside its only user, bank credit notices
(``gateway/services/bank_credits.py``, table ``provider_events``); it moves here when a second
provider (VNPAY, POS) needs it.
"""
