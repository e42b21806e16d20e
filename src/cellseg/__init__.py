"""cellseg: segment, measure and track cells and nuclei in microscopy images."""
__version__ = "0.1.0"
