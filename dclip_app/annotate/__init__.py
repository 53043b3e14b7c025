"""Annotating library photos in the app: boxes, suggestions to review, captions and span links.

The entry point is :class:`dclip_app.annotate.window.AnnotateWindow`. Qt-free logic lives in
``geometry``, ``navigation``, ``photo_state``, ``shortcuts`` and ``spans``; the other modules are
thin Qt views over it. This package module imports nothing, so the canvas can use ``geometry``
without pulling the window in.
"""
