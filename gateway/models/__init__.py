"""The API's request, query and response bodies as pydantic models: the single source of
validation, of what handlers send, and of the schemas in ``/openapi.json``.

Services may import these; they import only :mod:`gateway.core` and pydantic."""
