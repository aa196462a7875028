"""The real app in headless Chromium, as a visitor uses it: upload, train, watch, stop, compare.

Needs Debian's Chromium (`apt-get install -y chromium`) and the `playwright` package (never
`playwright install`: it would download a browser). Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from apphelpers import ARTIFACTS, SHARED_CORPORA, chromium_page, running_app, sync_playwright_or_skip, wait_for

# The number of points plotly holds in the loss plot, over all traces except the invisible axis helper.
PLOT_POINTS = """() => { const el = document.querySelector('#loss-plot .js-plotly-plot');
  if (!el || !el.data) return 0;
  return el.data.filter(t => t.name !== 'bits axis').reduce((n, t) => n + (t.x ? t.x.length : 0), 0); }"""


@pytest.fixture(scope="module")
def sync_playwright():
    return sync_playwright_or_skip()


@pytest.fixture(scope="module")
def app_url(sync_playwright, tmp_path_factory, tiny_model_path):
    with running_app(tmp_path_factory.mktemp("browser_home"), default_model=tiny_model_path) as url:
        yield url


@pytest.fixture
def page(sync_playwright, app_url, tmp_path):
    with chromium_page(sync_playwright, app_url, tmp_path / "chromium-profile") as page:
        yield page


def upload_sonnets_and_train(page, minutes: str) -> None:
    """What a poet does first: upload the Sonnets, then a quick training from scratch for `minutes`."""
    page.get_by_role("tab", name="Your poems").click()
    page.locator("#corpus-upload input[type=file]").set_input_files(str(SHARED_CORPORA / "sonnets.txt"))
    page.wait_for_function("() => document.querySelector('#corpus-stats')?.innerText.includes('95,455')")
    assert page.locator("#corpus-preview .pl-poem").count() >= 1
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("quick", exact=False).first.check()
    page.locator("#train-minutes input").fill(minutes)
    page.get_by_label("Scratch", exact=False).check()
    page.click("#train-start")
    page.wait_for_function("() => document.querySelector('#train-status')?.innerText.includes('step')")


def test_upload_train_watch_stop_compare(page):
    ARTIFACTS.mkdir(exist_ok=True)
    # The default model is ready before any training.
    page.wait_for_function("() => document.querySelector('#model-summary')?.innerText.includes('parameters')")

    upload_sonnets_and_train(page, "0.3")

    # The plot gains points on its own (the timer), with no click.
    first = wait_for(lambda: page.evaluate(PLOT_POINTS), timeout=20)
    assert first, "the loss plot never got a point"
    time.sleep(2.5)
    second = page.evaluate(PLOT_POINTS)
    assert second > first, f"the loss plot did not grow in 2.5 s ({first} -> {second} points)"
    # After the first check of the validation text (every 10 s in "quick"): a validation point and samples.
    page.wait_for_selector("#train-samples .pl-sample", timeout=25_000)
    assert "step" in page.locator("#train-samples .pl-sample-head").first.inner_text()
    page.wait_for_function("() => document.querySelector('#loss-plot .js-plotly-plot')?.data"
                           ".some(t => t.name === 'validation loss')")
    page.screenshot(path=str(ARTIFACTS / "browser_train.png"), full_page=True)

    page.click("#train-stop")
    page.wait_for_function("() => /Stopped|Finished/.test(document.querySelector('#train-status')?.innerText)")
    page.wait_for_function("() => document.querySelector('#model-summary')?.innerText.includes('1x256')")

    page.get_by_role("tab", name="Compare temperatures").click()
    page.locator("#compare-temperatures textarea, #compare-temperatures input").first.fill("0.3, 0.8, 1.2")
    page.locator("#compare-prompt textarea").fill("When I do count")
    page.click("#compare-run")
    page.wait_for_function("() => document.querySelectorAll('#compare-results .pl-col').length === 3")
    poems = page.locator("#compare-results .pl-col .pl-poem").all_inner_texts()
    assert len(poems) == 3 and all(p.startswith("When I do count") and len(p) > 40 for p in poems)
    boxes = [page.locator("#compare-results .pl-col").nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"] and abs(boxes[0]["y"] - boxes[2]["y"]) < 2  # side by side
    page.screenshot(path=str(ARTIFACTS / "browser_compare.png"), full_page=True)


def test_lens_views_and_sweep(page):
    """The poet's lens on the model the app opens with: rhyme and metre, confidence, copies; then a sweep."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_role("tab", name="Compare temperatures").click()
    page.locator("#compare-prompt textarea").fill("Shall I compare thee to a summer's day?\n")
    page.locator("#compare-temperatures textarea, #compare-temperatures input").first.fill("0.3, 0.8, 1.2")
    page.click("#compare-run")
    page.wait_for_function("() => document.querySelectorAll('#compare-results .pl-col .pl-scan').length === 3")
    assert "rhyme" in page.locator("#compare-results .pl-scan").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser_lens_plain.png"), full_page=True)

    page.get_by_role("tab", name="Confidence").click()
    letters = page.locator("#compare-confidence .pl-confidence span[title]")
    letters.first.wait_for(state="visible")
    assert letters.count() > 300 and "likeliest" in letters.first.get_attribute("title")
    assert page.locator("#compare-confidence .pl-col").nth(2).bounding_box()["width"] > 150  # columns, not a crushed strip
    page.screenshot(path=str(ARTIFACTS / "browser_confidence.png"), full_page=True)

    page.get_by_role("tab", name="Copied passages").click()
    page.locator("#compare-copies .pl-col").first.wait_for(state="visible")
    if page.locator("#compare-copies mark[title]").count():  # the sonnet line itself, when the model knows its Sonnets
        page.locator("#compare-copies .pl-source summary").first.click()
    page.screenshot(path=str(ARTIFACTS / "browser_copies.png"), full_page=True)

    page.get_by_role("tab", name="Temperature sweep").click()
    page.click("#sweep-run")
    page.wait_for_function("() => (document.querySelector('#sweep-plot .js-plotly-plot')?.data || [])"
                           ".some(t => t.name === 'metre regularity mean')", timeout=30_000)
    assert "Wrote 40 poems" in page.locator("#sweep-status").inner_text()
    assert page.locator("#sweep-download").is_visible()
    page.screenshot(path=str(ARTIFACTS / "browser_sweep.png"), full_page=True)


def test_themes_tab_maps_the_sonnets(page):
    """Write poems, load the Sonnets, find 3 themes by TF-IDF: the map shows the poems and the stars."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_role("tab", name="Compare temperatures").click()
    page.click("#compare-run")
    page.wait_for_function("() => document.querySelectorAll('#compare-results .pl-col').length === 4")
    page.get_by_role("tab", name="Your poems").click()
    page.locator("#corpus-upload input[type=file]").set_input_files(str(SHARED_CORPORA / "sonnets.txt"))
    page.wait_for_function("() => document.querySelector('#corpus-stats')?.innerText.includes('95,455')")

    page.get_by_role("tab", name="Themes").click()
    page.locator("#themes-k input").click()
    page.get_by_role("option", name="3", exact=True).click()
    page.click("#themes-run")
    page.wait_for_function("() => (document.querySelector('#themes-map .js-plotly-plot')?.data || [])"
                           ".some(t => t.name === 'new poems')", timeout=20_000)
    traces = page.evaluate("() => document.querySelector('#themes-map .js-plotly-plot').data.map(t => [t.name, t.x.length])")
    assert sum(n for name, n in traces if name.startswith("theme ")) == 154 and ["new poems", 4] in traces
    assert "Found 3 themes among 154 poems" in page.locator("#themes-status").inner_text()
    assert page.locator("#themes-list .pl-col").count() == 3 and page.locator("#themes-placed .pl-col").count() == 4
    page.screenshot(path=str(ARTIFACTS / "browser_themes.png"), full_page=True)

    third = page.locator("#themes-pick label").nth(2)
    words = third.inner_text().split(": ", 1)[1]  # "3: beauty, eye, ..."
    third.click()
    page.click("#themes-write")  # the poems are written on the Write tab, which opens, with the theme's words as the subject
    page.wait_for_function("() => /Wrote 4 poems/.test(document.querySelector('#compose-status')?.innerText)", timeout=60_000)
    assert page.locator("#compose-about textarea").input_value() == words
    assert page.locator("#compose-poems .pl-about").count() == 4 and page.locator("#compose-poems .pl-about").first.inner_text() == f"on: {words}"
    page.screenshot(path=str(ARTIFACTS / "browser_theme_poems.png"), full_page=True)


# Every Gradio toast (info, warning, error) the page shows, recorded as it appears.
RECORD_TOASTS = """() => { window.__toasts = [];
  new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
    if (n.nodeType === 1) for (const t of [n, ...n.querySelectorAll('*')])
      if (t.className && String(t.className).includes('toast-body')) window.__toasts.push(t.innerText);
  }))).observe(document.body, {childList: true, subtree: true}); }"""
STATUS_LINES = ["#compose-status", "#compare-status", "#sweep-status", "#corpus-status", "#corpus-warnings", "#train-status", "#runs-status",
                "#themes-status", "#model-download-status", "#model-load-status"]


def new_users_poems(folder: Path) -> Path:
    """A poet's own file: 24 short poems, not in any corpus the app knows."""
    words = ["river", "lantern", "orchard", "winter", "sparrow", "harbour", "meadow", "ember", "willow", "thunder",
             "candle", "mountain"]
    poems = []
    for a, b, c in list(itertools.combinations(words, 3))[::9][:24]:  # 24 different poems
        poems.append(f"The {a} keeps a quiet light,\nthe {b} hums along the night;\n"
                     f"I walk where {c}s used to be\nand count the hours left to me.")
    path = folder / "my poems.txt"
    path.write_text("\n\n".join(poems) + "\n", encoding="utf-8")
    return path


def test_every_button_with_the_defaults_a_new_user_sees(page, tmp_path):
    """A new visitor presses every button once, with every widget as the fresh page shows it; the one thing
    done besides is uploading a poem file (and the model file the app itself gave). No warning, anywhere."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate(RECORD_TOASTS)
    console = []  # the browser's own warnings and errors count too, but one of Gradio's own:
    # Gradio 6.31's client closes an upload's progress stream through a stub that logs "Method not
    # implemented." (the `close` of the fake EventSource in @gradio/client): nothing of this app's.
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
            if m.type in ("warning", "error") and m.text != "Method not implemented." else None)
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    status_of = lambda sel: page.locator(sel).inner_text() if page.locator(sel).count() else ""  # noqa: E731

    def pressed(selector: str, done_js: str, timeout: float = 60_000) -> None:
        with page.expect_response(lambda r: "/gradio_api/queue/join" in r.url):  # the click did send its event
            page.click(selector)
        page.wait_for_function(done_js, timeout=timeout)
        page.wait_for_timeout(700)  # a toast from this event would be on the page by now
        toasts = page.evaluate("() => window.__toasts")
        shown = {sel: status_of(sel) for sel in STATUS_LINES}
        assert not toasts, f"{selector}: the page showed {toasts}"
        assert not console, f"{selector}: the browser said {console}"
        assert not [t for t in shown.values() if "⚠" in t], f"{selector}: {shown}"

    page.wait_for_function("() => document.querySelector('#model-summary')?.innerText.includes('parameters')")
    pressed("#compose-run", "() => document.querySelectorAll('#compose-poems .pl-col').length === 4"
                            " && /Wrote 4 poems/.test(document.querySelector('#compose-status')?.innerText)")
    lines = page.locator("#compose-poems .pl-col").first.locator(".pl-line[data-scan]")
    assert lines.count() == 14  # a sonnet, each line with its rhyme letter and syllables
    page.screenshot(path=str(ARTIFACTS / "defaults_compose.png"), full_page=True)
    pressed("#compose-rewrite", "() => /written again|again \\(/.test(document.querySelector('#compose-status')?.innerText)")
    pressed("#compose-line-again", "() => /Line 1 written again/.test(document.querySelector('#compose-status')?.innerText)")
    pressed("#compose-candidates", "() => /next best drafts|no other drafts/.test(document.querySelector('#compose-status')?.innerText)")
    page.screenshot(path=str(ARTIFACTS / "defaults_compose_work.png"), full_page=True)

    page.get_by_role("tab", name="Compare temperatures").click()
    pressed("#compare-run", "() => document.querySelectorAll('#compare-results .pl-col').length >= 2")

    page.get_by_role("tab", name="Temperature sweep").click()
    pressed("#sweep-run", "() => /Wrote \\d+ poems/.test(document.querySelector('#sweep-status')?.innerText)")

    page.get_by_role("tab", name="Your poems").click()
    page.locator("#corpus-upload input[type=file]").set_input_files(str(new_users_poems(tmp_path)))
    page.wait_for_function("() => document.querySelector('#corpus-status')?.innerText.includes('Loaded')")
    pressed("#corpus-load", "() => document.querySelector('#corpus-status')?.innerText.includes('Loaded')")

    page.get_by_role("tab", name="Train").click()
    pressed("#train-start", "() => /step/.test(document.querySelector('#train-status')?.innerText)")
    pressed("#train-stop", "() => /Stopped|Finished/.test(document.querySelector('#train-status')?.innerText)")
    page.wait_for_function("() => document.querySelector('#runs-choice input')?.value")
    pressed("#runs-refresh", "() => document.querySelector('#runs-table')?.innerText.includes('stopped')")
    pressed("#runs-load", "() => /Loaded|best model/i.test(document.querySelector('#runs-status')?.innerText)")
    pressed("#runs-resume", "() => /step/.test(document.querySelector('#train-status')?.innerText)"
                            " && /Resum|running/i.test(document.querySelector('#runs-status')?.innerText)")
    pressed("#train-stop", "() => /Stopped|Finished/.test(document.querySelector('#train-status')?.innerText)")
    page.screenshot(path=str(ARTIFACTS / "defaults_train.png"), full_page=True)

    page.get_by_role("tab", name="Themes").click()
    pressed("#themes-run", "() => /Found \\d+ themes/.test(document.querySelector('#themes-status')?.innerText)", 120_000)
    page.screenshot(path=str(ARTIFACTS / "defaults_themes.png"), full_page=True)
    pressed("#themes-write", "() => /Wrote 4 poems/.test(document.querySelector('#compose-status')?.innerText)"
                             " && document.querySelectorAll('#compose-poems .pl-about').length === 4")
    page.screenshot(path=str(ARTIFACTS / "defaults_theme_poems.png"), full_page=True)
    page.get_by_role("tab", name="Themes").click()

    page.get_by_role("tab", name="Model file").click()
    pressed("#model-prepare", "() => /Ready/.test(document.querySelector('#model-download-status')?.innerText)")
    link = page.locator("#model-download a").first.get_attribute("href")
    model = tmp_path / "downloaded.safetensors"
    model.write_bytes(page.request.get(link).body())
    page.locator("#model-upload input[type=file]").set_input_files(str(model))
    page.wait_for_function("() => /Loaded/.test(document.querySelector('#model-load-status')?.innerText)")
    assert not page.evaluate("() => window.__toasts")
    page.screenshot(path=str(ARTIFACTS / "defaults_model.png"), full_page=True)


def test_a_training_goes_on_when_the_tab_closes(sync_playwright, app_url, tmp_path):
    """Start a training, close the browser 10 s later, come back in the same browser: it is still running
    (its curve on the Train tab), and it ends on its own with its best model among the visitor's runs."""
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tmp_path / "chromium-profile"  # the same browser both times: the visitor id in its storage
    with chromium_page(sync_playwright, app_url, profile) as page:
        upload_sonnets_and_train(page, "0.5")
        time.sleep(10)
    time.sleep(3)  # the heartbeat has ended and the page's unload has run
    with chromium_page(sync_playwright, app_url, profile) as page:
        page.get_by_role("tab", name="Train").click()
        page.wait_for_function("() => /running/.test(document.querySelector('#runs-table')?.innerText)")
        page.wait_for_function("() => /step/.test(document.querySelector('#train-status')?.innerText)")
        first = wait_for(lambda: page.evaluate(PLOT_POINTS), timeout=20)
        time.sleep(2.5)
        assert page.evaluate(PLOT_POINTS) > first, "the returning visitor's curve does not go on"
        page.screenshot(path=str(ARTIFACTS / "browser_returning_visitor.png"), full_page=True)
        # It runs to its end on its own (a 30 s budget), and its best model is listed, ready to load.
        page.wait_for_function("() => /done/.test(document.querySelector('#runs-table')?.innerText)", timeout=60_000)
        page.click("#runs-load")
        page.wait_for_function("() => /Loaded the best model of run/.test(document.querySelector('#runs-status')?.innerText)")
