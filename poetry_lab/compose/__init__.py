"""Poems in form: known words, no loops, rhyme and metre, written with the poet (issue #15).

    from poetry_lab.compose import Composer, ComposeConfig
    poem = Composer(bundle).compose(ComposeConfig(form="sonnet", temperature=0.8, seed=1))
    print(poem.text)

The names below load on first use, not with the package: the table of forms (poetry_lab.compose.forms)
is read by the command line's help, which must not wait for torch.
"""

from __future__ import annotations

import importlib

_HOMES = {"FORMS": "forms", "Form": "forms", "LinePlan": "forms", "plan": "forms",
          "Candidate": "poem", "ComposeConfig": "poem", "Composer": "poem", "Line": "poem", "Poem": "poem",
          "Lexicon": "words", "load_lexicon": "words"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
