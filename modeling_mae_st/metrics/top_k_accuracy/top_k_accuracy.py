"""Top-k accuracy from class scores as an `evaluate` module, shipped with mae-st so that it loads by path offline."""

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """
Top-k accuracy: the fraction of samples whose reference label is among the k highest scores. Ties are broken by
class index, as `torch.topk` does, so top-1 equals the accuracy of the argmax.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): class scores (logits or probabilities), one row per sample.
    references (`list` of `int`): ground-truth labels.
    k (`int`, defaults to 5): how many of the highest scores count; capped at the number of classes.
Returns:
    top_{k}_accuracy (`float`): in [0, 1], e.g. `top_5_accuracy`.
Example:
    >>> metric = evaluate.load("path/to/modeling_mae_st/metrics/top_k_accuracy")
    >>> metric.compute(predictions=[[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]], references=[2, 2], k=2)
    {'top_2_accuracy': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, k=5):
        scores = np.asarray(predictions, dtype=np.float64)
        k = min(k, scores.shape[1])
        # stable sort of the negated scores: ties go to the lower class index
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        hits = (top == np.asarray(references)[:, None]).any(axis=1)
        return {f"top_{k}_accuracy": float(hits.mean())}
