"""Serving: the FastAPI model server and canary router (filled by the serving issue)."""
