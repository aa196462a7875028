"""WCAG 2.1 A and AA in the real app: axe-core checks every tab as it first shows, in light and dark mode,
and the poems the first two tabs write.

axe-core comes from PyPI inside `axe-playwright-python` (requirements-dev.txt), so nothing is downloaded when
the test runs. Its own `Axe.run` writes its arguments into a JS string with Python's repr; here the same
axe.min.js is injected and `axe.run` is called with real JSON arguments instead. Screenshots of each tab go
to tests/artifacts/a11y_<scheme>_<tab>.png.
"""

from __future__ import annotations

import re

import pytest
from apphelpers import ARTIFACTS, chromium_page, loud_skip, running_app, sync_playwright_or_skip

# Each tab by its name, with the element that shows it has rendered (Gradio 6 renders a tab when opened). On
# the tabs with a plot, the plot: until plotly has drawn, Gradio holds its place with a placeholder of its own.
TABS = [("Write a poem", "#compose-run"), ("Compare temperatures", "#compare-run"),
        ("Temperature sweep", "#sweep-plot .js-plotly-plot"), ("Your poems", "#corpus-load"),
        ("Train", "#loss-plot .js-plotly-plot"), ("Themes", "#themes-map .js-plotly-plot"), ("Model file", "#model-prepare")]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Gradio's own footer (its "Use via API", "Built with Gradio" and "Settings" links) is no part of this app.
AXE_CONTEXT = {"exclude": [["footer"]]}
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
# Gradio fades an output to 20% while its event runs (`.pending`) and back in after: judged before the fade
# ends, every letter would fail.
SETTLED = """() => !document.querySelector('.pending')
  && !document.getAnimations().some(a => a instanceof CSSTransition && a.playState === 'running')"""


@pytest.fixture(scope="module")
def axe_script() -> str:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        loud_skip("axe-playwright-python is missing (pip install -r requirements-dev.txt)")
    return AXE_SCRIPT


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, tiny_model_path):
    sync_playwright_or_skip()
    with running_app(tmp_path_factory.mktemp("a11y_home"), default_model=tiny_model_path) as url:
        yield url


def axe_violations(page, axe_script: str, context: dict = AXE_CONTEXT) -> list[str]:
    """One line per element in violation: the rule, the element's selector, what is wrong with it."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_script)
    page.wait_for_function(SETTLED)
    results = page.evaluate("([context, options]) => axe.run(context, options)", [context, AXE_OPTIONS])
    lines = []
    for rule in results["violations"]:
        for node in rule["nodes"]:
            summary = " ".join((node.get("failureSummary") or rule["help"]).split())
            summary = re.sub(r"^Fix (any|all) of the following: ", "", summary)
            lines.append(f"{rule['id']} [{rule['impact']}] {' > '.join(map(str, node['target']))}: {summary}")
    return lines


def checked(page, axe_script: str, found: dict, where: str, scheme: str) -> None:
    """axe's findings on the page once it is still, under `where`; and a screenshot to look at."""
    page.mouse.move(0, 0)  # no hover colours on the tab or button just clicked
    found[where] = axe_violations(page, axe_script)
    name = re.sub(r"[^a-z0-9]+", "_", where.lower()).strip("_")
    page.screenshot(path=str(ARTIFACTS / f"a11y_{scheme}_{name}.png"), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_tab_meets_wcag_aa(app_url, axe_script, tmp_path, scheme):
    ARTIFACTS.mkdir(exist_ok=True)
    found: dict[str, list[str]] = {}
    with chromium_page(sync_playwright_or_skip(), app_url, tmp_path / "profile", color_scheme=scheme) as page:
        assert page.evaluate(axe_script + "; axe.version").startswith("4."), "axe-core 4 is what this test was written for"
        page.wait_for_function("() => document.querySelector('#model-summary')?.innerText.includes('parameters')")
        # Gradio follows the browser's colour scheme: make sure the page did, or "dark" would test light twice.
        assert page.evaluate("() => document.body.classList.contains('dark')") == (scheme == "dark")
        for tab, ready in TABS:
            page.get_by_role("tab", name=tab, exact=True).click()
            page.locator(ready).wait_for(state="visible")
            checked(page, axe_script, found, tab, scheme)

        # What the two writing tabs show once they have written (their own HTML: poems, margins, numbers, legends).
        page.get_by_role("tab", name="Write a poem", exact=True).click()
        page.click("#compose-run")
        page.wait_for_function("() => document.querySelectorAll('#compose-poems .pl-col').length === 4")
        checked(page, axe_script, found, "Write a poem, written", scheme)
        page.hover("#compose-run")  # a primary button lightened under the pointer was below AA too
        found["Write poems, under the pointer"] = axe_violations(page, axe_script, {"include": [["#compose-run"]]})
        page.get_by_role("tab", name="Compare temperatures", exact=True).click()
        page.click("#compare-run")
        page.wait_for_function("() => document.querySelectorAll('#compare-results .pl-col').length === 4")
        checked(page, axe_script, found, "Compare temperatures, written", scheme)
        for view, ready in [("Confidence", "#compare-confidence .pl-col"), ("Copied passages", "#compare-copies .pl-col")]:
            page.get_by_role("tab", name=view, exact=True).click()
            page.locator(ready).first.wait_for(state="visible")
            checked(page, axe_script, found, f"Compare temperatures, {view}", scheme)

    counts = ", ".join(f"{where}: {len(lines)}" for where, lines in found.items())
    print(f"\naxe violations ({scheme}): {counts}")
    report = "\n".join(f"--- {where} ({len(lines)})\n" + "\n".join(lines) for where, lines in found.items() if lines)
    assert not report, f"axe-core found WCAG 2.1 A/AA violations ({scheme} mode):\n{report}"
