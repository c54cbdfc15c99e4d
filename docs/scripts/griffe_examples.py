"""A griffe extension for the docs build: render ``Example:`` sections as code, like ``Examples:``.

The project writes one ``Example:`` section per public name (tests/test_docstrings.py checks it);
griffe's Google parser reads the singular as an admonition of plain Markdown, so the ``>>>`` lines
would render as prose. Renaming the section on the fly makes them highlighted, copyable examples.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExamplesAsCode(griffe.Extension):
    """Rewrite each docstring's ``Example:`` heading to ``Examples:`` before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
