"""HTTP adapters of the API Gateway functions: request models, routes and the one place errors become responses.

The domain (package `stratoflow`) knows nothing of API Gateway; this package turns its events into domain calls.
"""
