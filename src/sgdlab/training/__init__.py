"""Training runs: the loop (:mod:`.trainer`), how long each engine call is (:mod:`.stretch`),
checkpoints and resume rules (:mod:`.checkpoint`, :mod:`.runs`), saved weights
(:mod:`.weights`) and data parallelism (:mod:`.dist`, :mod:`.data_parallel`, :mod:`.elastic`)."""

from sgdlab.training.trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
