"""Bad input through the launched app, as a visitor sends it: every file a poet might upload by mistake,
settings out of range, oversized prompts. Each gets a correct reading or one plain message, in bounded
time, and the app keeps serving. The app runs with small limits (1 MB files, 3 files, 2 minutes, 1 M
parameters) so that each limit can be crossed cheaply.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import struct
import time
import zipfile
import zlib

import pytest
from apphelpers import running_app, wait_for
from conftest import POEM_TEXT

from poetry_lab.app.session import Session
from poetry_lab.errors import PoetryLabError

gradio_client = pytest.importorskip("gradio_client")
import httpx  # noqa: E402 - a gradio dependency, imported once gradio_client is known to be there
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

LIMITS = {"POETRY_LAB_MAX_UPLOAD_MB": "1", "POETRY_LAB_MAX_FILES": "3", "POETRY_LAB_MAX_MINUTES": "2",
          "POETRY_LAB_MAX_PARAMETERS": "1000000"}
# Signs that a message was not written for a poet: a traceback, an exception's name, Gradio's own words.
NOT_PLAIN = re.compile(r"Traceback|File \"|\b\w*(Error|Exception)\b|\bNone\b|Something went wrong")
STANZA = ("Là où le soleil brille, naïve façade,\n"
          "le cœur s’en va, déjà, vers l’élan du soir;\n"
          "Ô mon âme, écoute: l’été s’évade,\n"
          "et la mer chante à qui veut bien la voir.\n")
KNOWN = "et la mer chante à qui veut bien la voir."  # a line that must arrive intact whatever the encoding
ASCII_POEM = "The rose is red upon the wall,\nThe bee is busy in the hall;\nAnd when the evening shadows fall\nThe garden sleeps.\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_path):
    """The app with small limits and the tiny model; the environment is changed only while it starts."""
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in {**LIMITS, "POETRY_LAB_DEFAULT_MODEL": str(tiny_model_path)}.items():
            mp.setenv(key, value)
        url = stack.enter_context(running_app(tmp_path_factory.mktemp("bad_inputs_home")))
        mp.undo()
        yield url


@pytest.fixture(scope="module")
def client(app):
    """One visitor for the whole module (closing a client takes a second): each test sets what it needs."""
    c = Client(app, verbose=False)
    yield c
    c.close()


def assert_plain(message: str, *expected: str) -> None:
    assert message.strip(), "an empty message"
    assert not NOT_PLAIN.search(message), f"not a plain message: {message!r}"
    for words in expected:
        assert re.search(words, message, re.IGNORECASE), f"{words!r} not in {message!r}"


def timed(fn, *args, limit: float, **kwargs):
    """fn(*args, **kwargs), failing if it took longer than `limit` seconds (a hang must not pass)."""
    started = time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        took = time.monotonic() - started
        assert took < limit, f"took {took:.1f} s (limit {limit} s)"


# --- files a poet might upload ----------------------------------------------------------------
def png_bytes() -> bytes:
    """A real 8x8 RGB PNG (signature, IHDR, IDAT, IEND with CRCs)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = b"".join(b"\x00" + bytes(v for x in range(8) for v in (x * 32, y * 32, 128)) for y in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def pdf_bytes() -> bytes:
    """A one-page PDF with a compressed content stream, as editors write them."""
    stream = zlib.compress(b"BT /F1 12 Tf 20 100 Td (The rose is red upon the wall) Tj ET")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("poems.txt", POEM_TEXT)
    return buf.getvalue()


REFUSED = [  # (file name, bytes, words the one message must contain)
    ("empty.txt", b"", r"empty"),
    ("blank.txt", b"  \n\t \r\n   \n", r"empty"),
    ("picture.txt", png_bytes(), r"PNG image"),
    ("paper.txt", pdf_bytes(), r"PDF"),
    ("poems.zip.txt", zip_bytes(), r"zip archive"),
    ("nul_bytes.txt", b"The\x00rose\x00\x00is\x00red\x00\x00\x00\n" * 50, r"not readable text"),
    ("program.txt", bytes(range(256)) * 16, r"not readable text"),
]

READ = [  # (file name, bytes, lines that must arrive intact, number of lines once normalised)
    ("utf16_bom.txt", STANZA.encode("utf-16"), [KNOWN], 4),
    ("utf16_be_bom.txt", b"\xfe\xff" + STANZA.encode("utf-16-be"), [KNOWN], 4),
    ("utf8_bom.txt", b"\xef\xbb\xbf" + STANZA.encode("utf-8"), [KNOWN], 4),
    ("latin1.txt", STANZA.replace("œ", "oe").replace("’", "'").encode("latin-1"), [KNOWN], 4),
    ("cp1252.txt", STANZA.encode("cp1252"), [KNOWN, "le cœur s’en va, déjà, vers l’élan du soir;"], 4),
    ("cp1252_short.txt", "We met at noon at the café\n".encode("cp1252"), ["We met at noon at the café"], 1),
    ("line_endings.txt", b"The rose is red,\r\nthe bee is busy,\rthe moon is white,\nthe sea is wide.\r\n",
     ["The rose is red,", "the bee is busy,", "the moon is white,", "the sea is wide."], 4),
    ("some_nul.txt", ASCII_POEM.replace("busy", "bu\x00sy").encode(), ["The bee is busy in the hall;"], 4),
]


def _write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _ui_load(client: Client, paths: list[str]) -> tuple[str, str, str, str]:
    """The page's own event: -> stats Markdown, warnings Markdown, preview HTML, status (HTML-unescaped)."""
    out = client.predict([handle_file(p) for p in paths], "", None, api_name="/ui_load_corpus")
    return tuple(html.unescape(v) if isinstance(v, str) else "" for v in out)


@pytest.mark.parametrize("name, data, words", REFUSED, ids=[c[0] for c in REFUSED])
def test_unreadable_files_get_one_plain_message(client, tmp_path, name, data, words):
    path = _write(tmp_path, name, data)
    with pytest.raises(AppError) as info:
        timed(client.predict, [handle_file(path)], None, None, api_name="/load_corpus", limit=20)
    assert_plain(str(info.value), words, re.escape(name))
    *_, status = timed(_ui_load, client, [path], limit=20)
    assert status.startswith("⚠️")
    assert_plain(status[2:], words)


@pytest.mark.parametrize("name, data, lines, n_lines", READ, ids=[c[0] for c in READ])
def test_encodings_and_line_endings_are_read_correctly(client, tmp_path, name, data, lines, n_lines):
    path = _write(tmp_path, name, data)
    report = timed(client.predict, [handle_file(path)], None, None, api_name="/load_corpus", limit=20)
    assert report["lines"] == n_lines, report
    _, _, preview, status = timed(_ui_load, client, [path], limit=20)
    assert "⚠️" not in status and name in status
    for line in lines:
        assert line in preview, f"{line!r} did not arrive intact: {preview[:400]!r}"
    assert not {"\ufeff", "\r", "\x00", "\ufffd"} & set(preview)


def test_one_enormous_line_loads_quickly_and_previews_a_little(client, tmp_path):
    line = ("The rose is red upon the wall, the bee is busy in the hall; " * 15_000)[:900_000]
    path = _write(tmp_path, "one_line.txt", line.encode())
    report = timed(client.predict, [handle_file(path)], None, None, api_name="/load_corpus", limit=20)
    assert (report["chars"], report["lines"]) == (900_000, 1)
    _, _, preview, _ = timed(_ui_load, client, [path], limit=20)
    assert len(preview) < 2_000 and " ..." in preview  # the page gets a taste, not 900 KB


def test_tens_of_thousands_of_distinct_characters_are_shown_but_not_trained_on(client, tmp_path):
    chars = [chr(c) for r in ((0x4E00, 0x9FA6), (0xAC00, 0xD7A4), (0x1F300, 0x1F600)) for c in range(*r)]
    text = "\n".join("".join(chars[i:i + 40]) for i in range(0, len(chars), 40)) + "\n"
    path = _write(tmp_path, "cjk_emoji.txt", text.encode("utf-8"))
    report = timed(client.predict, [handle_file(path)], None, None, api_name="/load_corpus", limit=20)
    assert report["distinct_chars"] > 30_000
    assert any("different characters" in w for w in report["warnings"])
    for start_from in ("scratch", "auto"):
        with pytest.raises(AppError) as info:
            timed(client.predict, "quick", 0.1, start_from, api_name="/start_training", limit=20)
        assert_plain(str(info.value), r"different characters", r"at most 10,000")
    assert client.predict(api_name="/training_status")["state"] != "running"


def test_more_files_than_allowed(client, tmp_path):
    paths = [_write(tmp_path, f"poem{i}.txt", ASCII_POEM.encode()) for i in range(4)]
    with pytest.raises(AppError) as info:
        client.predict([handle_file(p) for p in paths], None, None, api_name="/load_corpus")
    assert_plain(str(info.value), r"4 files is too many", r"at most 3")
    assert client.predict([handle_file(p) for p in paths[:3]], None, None, api_name="/load_corpus")["chars"] > 0


def test_oversized_file_is_refused_by_gradio_and_by_the_library(app, client, tmp_path, monkeypatch):
    big = _write(tmp_path, "big.txt", ASCII_POEM.encode() * (2 * 2**20 // len(ASCII_POEM)))
    # gradio_client checks the app's max_file_size before sending ...
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 1048576 bytes"):
        client.predict([handle_file(big)], None, None, api_name="/load_corpus")
    # ... and the server refuses it as it arrives, whatever the client.
    with open(big, "rb") as fh:
        response = httpx.post(f"{app}/gradio_api/upload", files=[("files", ("big.txt", fh))], timeout=30)
    assert response.status_code == 413 and "maximum allowed size" in response.text
    # The library applies the same limit to files that reach it by another way.
    monkeypatch.setenv("POETRY_LAB_MAX_UPLOAD_MB", "1")
    lab = Session(home=tmp_path / "home")
    with pytest.raises(PoetryLabError, match=r"'big.txt' is 2 MB: files may be at most 1 MB"):
        lab.load_corpus(files=[big])
    with pytest.raises(PoetryLabError, match=r"at most 1 MB"):
        lab.load_corpus(text="x" * (2**20 + 1))


def test_text_shorter_than_one_training_sequence(client):
    report = client.predict(None, "A rose.\n", None, api_name="/load_corpus")
    assert report["chars"] == 8 and any("Only 8 characters" in w for w in report["warnings"])
    for start_from in ("scratch", "loaded"):
        with pytest.raises(AppError) as info:
            client.predict("quick", 0.1, start_from, api_name="/start_training")
        assert_plain(str(info.value), r"too little", r"Add more poems")
    # A little more than one sequence (64 characters) trains: one short stream, then a clean finish.
    client.predict(None, ASCII_POEM, None, api_name="/load_corpus")
    assert "Training started" in client.predict("quick", 0.05, "scratch", api_name="/start_training")
    final = wait_for(lambda: (s := client.predict(api_name="/training_status"))["state"] != "running" and s, timeout=40)
    assert final and final["state"] == "done" and final["step"] > 0, final
    assert final["best_val_loss"] is not None and final["best_val_loss"] > 0


# --- settings out of range ---------------------------------------------------------------------
def compare(client: Client, prompt="The rose", temperatures="0.5", chars=60, seed=1, top_k=None, top_p=None) -> list[dict]:
    return timed(client.predict, prompt, temperatures, chars, seed, top_k, top_p, api_name="/compare", limit=20)


@pytest.mark.parametrize("kwargs, words", [
    ({"temperatures": "1000"}, r"Temperature 1000 is out of range"),
    ({"temperatures": "-1, 0.5"}, r"Temperature -1 is out of range"),
    ({"temperatures": "nan"}, r"out of range"),
    ({"temperatures": "warm"}, r"numbers separated by commas"),
    ({"temperatures": ""}, r"between 1 and 6 temperatures"),
    ({"top_p": -0.5}, r"top-p must be greater than 0 and at most 1"),
    ({"top_p": 1.5}, r"top-p must be greater than 0 and at most 1"),
    ({"top_k": -3}, r"top-k must be at least 1"),
    ({"chars": -5}, r"Length must be between 1 and 20,000"),
    ({"chars": 10**9}, r"Length must be between 1 and 20,000"),
])
def test_generation_settings_out_of_range_are_refused_plainly(client, kwargs, words):
    with pytest.raises(AppError) as info:
        compare(client, **kwargs)
    assert_plain(str(info.value), words)


def test_generation_settings_at_the_edges_work(client):
    greedy = [compare(client, temperatures="0", seed=s)[0]["text"] for s in (1, 2)]
    assert greedy[0] == greedy[1], "temperature 0 must always take the likeliest character"
    assert compare(client, temperatures="0, 5", seed=3)[0]["text"] == greedy[0]
    assert compare(client, top_p=0)[0]["text"] == compare(client)[0]["text"]  # 0 (an empty widget) means off
    assert len(compare(client, top_p=1.0, top_k=10**6)) == 1
    for seed in (-1, 2**70):  # any whole number is a seed, and the same seed gives the same poem
        assert compare(client, seed=seed, temperatures="1")[0]["text"] == compare(client, seed=seed, temperatures="1")[0]["text"]
    unseen = compare(client, prompt="日本の詩 ✨ The rose")[0]
    assert unseen["text"].startswith("日本の詩 ✨ The rose") and "日" in unseen["unknown_chars"]


def test_a_100_kb_prompt_keeps_its_end_and_stays_quick(client):
    prompt = ("The rose is red upon the wall, the bee is busy in the hall.\n" * 2000)[:100_000] + "And then"
    first = timed(compare, client, prompt=prompt, temperatures="0.2, 1.0", chars=100, limit=10)
    assert first[0]["text"].startswith(prompt[-2000:]) and len(first[0]["text"]) <= 2000 + 100
    *_, status = timed(client.predict, prompt, "0.2, 0.5, 1.0, 1.2", 200, "characters", 1, None, None,
                       api_name="/ui_compare", limit=20)
    assert "⚠️" not in status and "Your prompt has 100,008 characters: the poems continue its last 2,000." in status


# --- training settings out of range (the Train tab's advanced settings) ------------------------
ADVANCED = ("cell", "layers", "hidden", "dropout", "seq_len", "batch_size", "lr", "epochs", "patience", "seed")


@pytest.mark.parametrize("settings, words", [
    ({"hidden": -5}, r"hidden must be between 1 and 8192, not -5"),  # 0 (an emptied field) is the preset's choice
    ({"layers": 99}, r"layers must be between 1 and 16"),
    ({"dropout": -0.1}, r"Dropout must be at least 0 and below 1"),
    ({"dropout": 1.5}, r"Dropout must be at least 0 and below 1"),
    ({"seq_len": 1}, r"Sequence length must be at least 2"),
    ({"batch_size": -3}, r"batch size at least 1"),
    ({"lr": -1}, r"learning rate of -1 is out of range"),
    ({"lr": 1e6}, r"learning rate of 1e\+06 is out of range"),
    ({"epochs": -1}, r"epochs must be positive"),
    ({"seed": 10**20}, r"seed is too large"),
    ({"minutes": -3}, r"time budget must be between"),
    ({"layers": -1}, r"layers must be between 1 and 16"),
    ({"minutes": 5}, r"at most 2 minutes"),  # POETRY_LAB_MAX_MINUTES
    ({"hidden": 1024}, r"parameters; the limit here is 1,000,000"),  # POETRY_LAB_MAX_PARAMETERS
])
def test_training_settings_out_of_range_are_refused_plainly(client, settings, words):
    client.predict(None, POEM_TEXT, None, api_name="/load_corpus")
    before = client.predict(api_name="/training_status")
    values = [settings.get(k) for k in ADVANCED]
    values[0] = values[0] or ""
    status, _timer = timed(client.predict, "quick", settings.get("minutes", 0.1), "scratch", *values,
                           api_name="/ui_start_training", limit=20)
    status = html.unescape(status)
    assert status.startswith("⚠️"), status
    assert_plain(status[2:], words)
    assert client.predict(api_name="/training_status") == before  # no job was started


@pytest.mark.parametrize("args, words", [
    (("quick", 5, "scratch"), r"at most 2 minutes"),
    (("quick", 1e9, "scratch"), r"time budget must be between"),
    (("ludicrous", 1, "scratch"), r"Unknown preset 'ludicrous'"),
    (("quick", 1, "elsewhere"), r"Start from must be 'scratch' or 'loaded'"),
])
def test_api_training_limits(client, args, words):
    client.predict(None, POEM_TEXT, None, api_name="/load_corpus")
    with pytest.raises(AppError) as info:
        client.predict(*args, api_name="/start_training")
    assert_plain(str(info.value), words)


def test_the_app_still_serves_after_all_of_it(client, app):
    results = compare(client, prompt="Shall I", temperatures="0.2, 0.7, 1.2", chars=120)
    assert [r["temperature"] for r in results] == [0.2, 0.7, 1.2] and all(len(r["text"]) > 7 for r in results)
    assert httpx.get(f"{app}/gradio_api/info", timeout=10).status_code == 200
