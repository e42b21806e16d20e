"""Models: the network (:mod:`.unet`), its card (:mod:`.card`), the trained model that turns
images into probabilities and labels (:mod:`.trained`), files and the one cache
(:mod:`.store`), and the ONNX Runtime backend (:mod:`.onnx`)."""
from cellseg.model.store import (
                                 BUNDLED_DIR,
                                 DEFAULT_MODEL,
                                 bundled_models,
                                 cached_model,
                                 load_model,
                                 model_paths,
                                 save_model,
)
from cellseg.model.trained import TrainedModel

__all__ = ["BUNDLED_DIR", "DEFAULT_MODEL", "TrainedModel", "bundled_models", "cached_model",
           "load_model", "model_paths", "save_model"]
