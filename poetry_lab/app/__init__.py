"""The app: the session object with typed results, and the Gradio UI in app.ui."""
