"""Themes in a corpus: word lists, the theme methods, and LSTM embeddings."""
