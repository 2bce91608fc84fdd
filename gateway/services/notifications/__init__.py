"""Citizen notifications by Zalo ZNS and SMS, driven by the outbox (docs/notifications.md).

:mod:`.compose` decides what an event tells whom and queues it; :mod:`.worker` takes the
events from the intake and sends what is due; :mod:`.receipts` applies the providers'
delivery receipts; :mod:`.views` lists notifications and records opt-outs.
"""
