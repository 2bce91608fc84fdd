"""The gateway service: app factory, HTTP API, pages, CLI, domain services, persistence."""
