"""Catalog entries: importing this module registers every dataset of ctxseg."""
