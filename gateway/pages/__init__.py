"""Server-rendered pages (Vietnamese): the citizen's checkout page."""
