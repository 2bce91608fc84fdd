"""Daily reconciliation: statement parsers (``parsers/``), the matching engine, exceptions,
day close and reports. Inputs are the gateway's own ledger and files from providers, banks
and the State Treasury (KBNN), all normalised to :class:`~reconciliation.model.StatementLine`.
"""
