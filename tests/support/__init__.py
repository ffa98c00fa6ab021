"""Helpers the tests share: the sandbox subprocess, the bridge stack, worker processes."""
