"""Writes of the integration, as plain keyword-only functions named `<entity>_<action>`."""
