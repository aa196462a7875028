"""Plotly figures, one pure function each: plain data in, go.Figure out."""
