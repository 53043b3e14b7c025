"""DCLIP's resources: icons, the stylesheet, the desktop entry and the AppStream metainfo.

This folder is the import package ``dclip_resources`` once installed (setup.py maps the name onto
this top-level folder), so a wheel carries it as package data and code finds its files through
``importlib.resources``, never through a path relative to the source checkout. Read them through
:mod:`dclip_core.config.resources`; this module holds no code on purpose (ADR 0018).
"""
