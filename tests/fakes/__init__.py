"""Loopback servers that speak each network's API, with fault injection. See base.py."""
