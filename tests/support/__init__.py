"""Launchers for the real services tests run against (each on a free loopback port, in a temp dir)."""
