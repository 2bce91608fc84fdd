"""Postal carriers: one package per carrier, each with settings, codec, statuses and client."""
