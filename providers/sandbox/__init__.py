"""Sandbox servers: real aiohttp apps that imitate each outside party, signatures included.

They serve the test suite (started with pytest-aiohttp's ``aiohttp_server``) and the demo
mode (mounted under ``/sandbox/...``). Like the real parties they keep their own state, in
memory; they import nothing from the gateway.
"""
