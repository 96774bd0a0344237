"""Guided practice: a practice is one session (calmstrap.practice_session), never a series of prompts.

Earlier versions sent one pacing prompt per breath with this template id; their rows stay in archives
and are kept out of prompt learning and "prompts sent" by it.
"""

from __future__ import annotations

PRACTICE_TEMPLATE_ID = "practice-pacing"
