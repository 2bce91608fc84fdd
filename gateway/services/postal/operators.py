"""Postal operators (VNPost staff): their feed of orders, accepting, events and handovers."""

from __future__ import annotations

from gateway.db import Database
from gateway.services.postal import state
from gateway.services.sealing import Sealer


class OperatorService:
    def __init__(self, db: Database, context: state.PostalContext, sealer: Sealer) -> None:
        self.db = db
        self.context = context
        self.sealer = sealer
