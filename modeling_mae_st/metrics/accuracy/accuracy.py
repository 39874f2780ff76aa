"""Top-1 accuracy as an `evaluate` module, shipped with mae-st so that it loads by path without the network."""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """
Top-1 accuracy: the fraction of predictions equal to the reference label, (TP + TN) / (TP + TN + FP + FN) for each
class. Same inputs and output as the Hub's `accuracy` metric.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): ground-truth labels.
    normalize (`bool`, defaults to `True`): return a fraction; `False` returns the count of correct predictions.
    sample_weight (`list` of `float`, *optional*): per-sample weights.
Returns:
    accuracy (`float`): in [0, 1] when normalized.
Example:
    >>> metric = evaluate.load("path/to/modeling_mae_st/metrics/accuracy")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        correct = (np.asarray(predictions) == np.asarray(references)).astype(np.float64)
        weights = np.ones_like(correct) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        total = float((correct * weights).sum())
        return {"accuracy": total / float(weights.sum()) if normalize else total}
