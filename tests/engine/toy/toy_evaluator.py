"""Accuracy of the toy classifier, gathered over processes."""

from det.evaluation import DatasetEvaluator
from det.utils import comm

__all__ = ["ToyAccuracyEvaluator"]


class ToyAccuracyEvaluator(DatasetEvaluator):
    """Returns ``{"toy": {"accuracy": percent, "count": n}}`` on the main process."""

    def reset(self) -> None:
        self._correct = 0
        self._count = 0

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs):
            self._correct += int(out["pred_class"] == inp["label"])
            self._count += 1

    def evaluate(self):
        totals = comm.all_gather((self._correct, self._count))
        if not comm.is_main_process():
            return {}
        correct = sum(c for c, _ in totals)
        count = sum(n for _, n in totals)
        return {"toy": {"accuracy": 100.0 * correct / max(count, 1), "count": count}}
