"""Collection rules for the doctest run over src/: the napari plugin needs its extra."""
import importlib.util

collect_ignore_glob = ([] if importlib.util.find_spec("magicgui")
                       else ["src/cellseg/napari_plugin/*"])
