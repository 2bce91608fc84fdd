"""Daily reconciliation: statement parsers, the matching engine, exceptions, day close and
reports. Inputs are the gateway's own ledger (``payments``, ``provider_events``) and files from
providers, banks and the State Treasury (KBNN)."""
