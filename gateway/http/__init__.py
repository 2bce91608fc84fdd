"""HTTP plumbing shared by every route: middleware, request parsing, responses."""
