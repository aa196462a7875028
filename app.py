"""Poetry Lab's web app: `python app.py [--host HOST] [--port PORT]`. Only composes: see poetry_lab/ui."""

from __future__ import annotations

import argparse
import logging
import os

# Before gradio is imported: no analytics, no calls to the Hugging Face Hub.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the Poetry Lab web app.")
    parser.add_argument("--host", default="0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 on a Hugging Face Space)")
    parser.add_argument("--port", type=int, default=7860)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own startup checks, one line each
    from poetry_lab.ui import CSS, THEME, create_demo  # imports gradio, after the environment is set

    demo = create_demo()
    demo.queue(default_concurrency_limit=1)
    demo.launch(server_name=args.host, server_port=args.port, share=False, ssr_mode=False, theme=THEME, css=CSS,
                max_file_size=f"{float(os.environ.get('POETRY_LAB_MAX_UPLOAD_MB', '10')):g}mb", show_error=False)


if __name__ == "__main__":
    main()
