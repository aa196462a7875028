"""Poetry Lab's web app: `python app.py [--host HOST] [--port PORT]`. Only composes: see poetry_lab/app/ui."""

from __future__ import annotations

import argparse
import logging
import os

# Before gradio is imported: no analytics, no calls to the Hugging Face Hub.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# One torch thread per request and for the training job (set before torch is imported): on a 2-core
# Space, threads that spin-wait for each other cost more than they give. benchmarks/load_test.py,
# 20 sessions (3 s pauses) writing while one trains: p95 1.8-2.9 s with 1 thread, 3.6-5.5 s with 2,
# and as many training steps. Set OMP_NUM_THREADS to use more cores on a bigger machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The sentence encoder's tokenizer (Rust) keeps a thread pool of its own that OMP_NUM_THREADS does not hold.
os.environ.setdefault("RAYON_NUM_THREADS", "1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the Poetry Lab web app.")
    # Gradio's own variables, as `gradio app.py` and Hugging Face Spaces use them, when no flag is given.
    host = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    parser.add_argument("--host", default=host,
                        help="address to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1; 0.0.0.0 on a Space)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
                        help="port to listen on (default: $GRADIO_SERVER_PORT, else 7860)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own startup checks, one line each
    # Imports gradio, after the environment is set.
    from poetry_lab.app.ui import CSS, THEME, create_demo, server_middleware
    from poetry_lab.app.ui.sessions import SessionRegistry
    from poetry_lab.settings import current

    config = current()
    sessions = SessionRegistry()  # one Session per tab or API client, and what each uploaded
    demo = create_demo(sessions)
    # One queue for the CPU-heavy events (ui.shared.cpu_queue), bounded: a request that finds it full is
    # told at once that the app is busy. Light events (a page load, a training poll) run one at a time each.
    demo.queue(default_concurrency_limit=1, max_size=config.queue_size)
    # No allowed_paths: Gradio serves only its own upload/cache folders (where the app's downloads are
    # copied), never the repository, POETRY_LAB_HOME or any other folder. Uploads over the limit are
    # refused before they reach the disk; the corpus reader applies the same limit (POETRY_LAB_MAX_UPLOAD_MB).
    demo.launch(server_name=args.host, server_port=args.port, share=False, ssr_mode=False, theme=THEME, css=CSS,
                max_file_size=config.limits.max_upload_bytes, show_error=False,  # bytes: "0.5mb" would not parse
                **server_middleware(demo, sessions))


if __name__ == "__main__":
    main()
