"""The person's page: live state, a breathing pacer, practice and one-tap answers (Starlette, SSE).

The app runs in the pipeline's own event loop (:mod:`web.server`); it carries the stages' results to the
person and their answers back, and computes nothing itself.
"""
