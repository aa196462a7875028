"""What a request for poems means when it leaves a setting out, and how many temperatures one may hold.

The one home of these numbers: the sampler, the composer, the sweep, the app (Session, API, page) and the
command line all read them here. Plain constants, no torch, so the command line's parser can read them
before anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_TEMPERATURE = 5.0  # 0 always takes the likeliest letter; far above 1 every letter is about as likely
MAX_TEMPERATURES = 6  # temperatures one comparison, or one row of poems in form, may hold (a column each)
SWEEP_MAX_TEMPERATURES = 12  # a sweep writes several poems at each: its own limit on characters keeps it short

COMPARE_TEMPERATURES = (0.2, 0.5, 1.0, 1.2)  # a comparison's columns: careful to free
COMPOSE_TEMPERATURES = (0.2, 0.5, 0.8, 1.0)  # poems in form: careful to lively (a form reins in high ones)
SWEEP_TEMPERATURES = (0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5)  # the sweep's grid, from nearly greedy to wild

# Same seed, same poems. 1, not 0: on the page an emptied seed field sends 0, which there means a fresh seed.
DEFAULT_SEED = 1

DEFAULT_THEMES = 5  # the themes a corpus is sorted into when the poet does not say (Themes tab, `themes`, a poem on a theme)


def temperatures_text(temperatures: Sequence[float]) -> str:
    """Temperatures as a text field shows them and session.parse_temperatures reads them: "0.2, 0.5, 1.0"."""
    return ", ".join(str(float(t)) for t in temperatures)
