"""Helpers shared by every frontier component: example I/O, HTML pages, code versions."""
