"""Connectors that tell citizens: Zalo ZNS template messages (:mod:`.zalo_zns`) and SMS
brandname (:mod:`.sms`), both behind :class:`.base.Notifier`."""
