"""Griffe extension for the API pages: a docstring's `Example:` section is code.

segkit's docstrings write their examples as indented code without `>>>` prompts under
`Example:`. Griffe renders that section as Markdown text, so `records[0]["segmentation"]` would
read as a link; this fences the section's lines as a Python code block instead.
"""

import re

import griffe

_SECTION = re.compile(
    r"^(?P<indent>[ \t]*)Examples?:[ \t]*\n(?P<body>(?:(?P=indent)[ \t]+\S.*\n?|[ \t]*\n)+)",
    re.MULTILINE)


def fence_examples(text):
    """`text` with each `Example:` section's indented body wrapped in a ```python fence."""

    def fence(match):
        body = match["body"].rstrip("\n").split("\n")
        pad = min(len(line) - len(line.lstrip()) for line in body if line.strip())
        inner = " " * pad
        if any(line.strip().startswith("```") or line.strip().startswith(">>>") for line in body):
            return match[0]
        end = "\n" if match[0].endswith("\n") else ""
        return (f"{match['indent']}Example:\n{inner}```python\n" + "\n".join(body)
                + f"\n{inner}```\n" + end)

    return _SECTION.sub(fence, text)


class FenceExamples(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = fence_examples(obj.docstring.value)
