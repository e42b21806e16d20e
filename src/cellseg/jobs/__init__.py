"""Jobs: files in, files out (progress, records, atomic writes, one-line errors per file).

segment_batch (``cellseg segment``), segment_huge (images larger than memory, in blocks),
evaluate_folder (``cellseg evaluate``), track_movie (``cellseg track``), measure_folder
(``cellseg measure``).
"""
