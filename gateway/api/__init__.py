"""The JSON API under /v1 and the provider callbacks: thin handlers over the services."""
