"""Poems in form: known words, no loops, rhyme and metre, written with the poet (issue #15).

    from poetry_lab.compose import Composer, ComposeConfig
    poem = Composer(bundle).compose(ComposeConfig(form="sonnet", temperature=0.8, seed=1))
    print(poem.text)
"""

from poetry_lab.compose.forms import FORMS, Form, LinePlan, plan
from poetry_lab.compose.poem import Candidate, ComposeConfig, Composer, Line, Poem
from poetry_lab.compose.words import Lexicon, load_lexicon

__all__ = ["FORMS", "Candidate", "ComposeConfig", "Composer", "Form", "Lexicon", "Line", "LinePlan", "Poem",
           "load_lexicon", "plan"]
