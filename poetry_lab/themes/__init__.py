"""Themes in a corpus: word lists, the theme methods, LSTM embeddings and the sentence encoder."""
