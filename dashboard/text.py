"""Text from outside (a URL parameter, a user name, an identity provider's claim) inside markdown.

Streamlit renders ``st.caption``, ``st.error`` and the like as markdown: a crafted value such as
``[log in again here](https://evil.example)`` would draw a link on the dashboard's own page.
``plain`` backslash-escapes every ASCII punctuation character (CommonMark allows it for all of
them), so markdown links, emphasis, HTML and Streamlit's ``:color[...]`` directives show as the
characters they are. Streamlit still turns a bare URL into a link, escaped or not: text that can
hold one (a URL parameter) goes to ``st.text``, which draws no markdown at all; ``plain`` is for
names already checked to hold no URL (user names, an identity provider's e-mail address).
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: object, limit: int = 200) -> str:
    """``text`` escaped for markdown and cut to ``limit`` characters."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + "..."
    return _PUNCTUATION.sub(r"\\\1", text.replace("\n", " ").replace("\r", " "))
