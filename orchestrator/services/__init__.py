"""One module per service: its image's interface, readiness probe, endpoints and reset."""
