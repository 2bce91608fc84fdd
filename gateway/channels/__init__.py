"""Payment channels as the gateway sees them: one adapter per provider, each implementing the
small Protocols of :mod:`gateway.channels.base` for the capabilities it has."""
