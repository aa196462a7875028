"""The model and how it learns and writes: vocabulary, CharLSTM, sampling, the Trainer, model files."""
