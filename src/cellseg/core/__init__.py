"""Array code: arrays in, arrays (or tables) out; no files, no printing.

preprocess (normalization, channels), rescale (object size), tiling (sliding window),
instances (probabilities -> labels), classical (Otsu), measure, metrics, tracking, wells,
track_metrics (CTC tracking scores).
"""
