"""SPL pseudo-labeling on digits: pre-training strategies compared on one target set.

Setting (Li et al., AAAI 2022, on data that ships offline): scikit-learn
digits, split per seed into a clean test set (`TEST` examples), a small clean
target set (`TARGET_PER_CLASS` per class) and a weakly-labeled pool (the
rest). The pool is cut into "untrimmed" bags (`spl.bags.make_bags`): every
example of a bag carries the bag's query class as its weak label, and a
share `bag_noise` of each bag shows one of the query's `NUM_RELATED` related
classes instead. A teacher (the baseline MLP) trained on the target set
predicts every pool example.

For each strategy the same network (MLP, `HIDDEN` units) is pre-trained on
the pool with that strategy's labels (`spl.relabel`), then fine-tuned on the
target set under a fresh head (`trainer.model.with_new_head`); `none`
trains the same network on the target set only, for as many fine-tuning
epochs. The score is clean test top-1, mean and std over `SEEDS`, at bag
noise 0.3 and 0.5.

Paper (Kinetics-200): SPL 84.3 > agreement 82.9 > weak 82.8 > teacher 81.9
> no pre-training 80.6. `paper_order` reports, per noise, whether our means
come in that order (spl first; `spl` and `spl_b` are each checked against
the others), and each adjacent pair.

Last line: one JSON object:
    {setting, seeds, results{noise: {strategy: {mean, std, runs}}},
     teacher_accuracy{noise: {mean, std}}, teacher_agreement{noise: mean},
     spl_classes{noise: mean}, paper_order{noise: {holds, pairs}}, wall_s}

Run: `.venv/bin/python benchmarks/spl.py` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from frontier.components.common import progress  # noqa: E402

SEEDS = (0, 1, 2)
NOISES = (0.3, 0.5)
STRATEGIES = ("none", "weak", "teacher", "agreement", "spl", "spl_b")
PAPER_ORDER = ("spl", "agreement", "weak", "teacher", "none")
TEST = 500
TARGET_PER_CLASS = 10
NUM_RELATED = 2
BAG_SIZE = 20
MIN_COUNT = 5
HIDDEN = (256, 128)
TEACHER_EPOCHS = 100
PRETRAIN_EPOCHS = 30
FINETUNE_EPOCHS = 60
BATCH = 32
LR = 1e-3


def log(message: str) -> None:
    progress.write(message)


def split_digits(seed: int):
    """(x, y) for test, target (class-balanced) and pool, disjoint."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    test, rest = order[:TEST], order[TEST:]
    target = np.concatenate([rest[y[rest] == c][:TARGET_PER_CLASS] for c in range(10)])
    pool = np.setdiff1d(rest, target)
    return (x[test], y[test]), (x[target], y[target]), (x[pool], y[pool])


def accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=1024, verbose=0), 1) == y))


def run_seed(noise: float, seed: int, shown: progress.Progress | None = None) -> dict:
    """The teacher and every strategy on one split; `shown` counts one unit per strategy."""
    from frontier.components.spl import relabel
    from frontier.components.spl.bags import make_bags
    from frontier.components.trainer.model import ModelDims, train, with_new_head

    (x_test, y_test), (x_tgt, y_tgt), (x_pool, y_pool) = split_digits(seed)
    weak = make_bags(y_pool, noise, 10, NUM_RELATED, BAG_SIZE, seed=seed).weak

    def fit(x, y, num_classes, epochs, initial_model=None):
        """The same network and optimiser for teacher, pre-training and fine-tuning."""
        model, _ = train(
            x,
            y,
            ModelDims(64, num_classes),
            hidden_units=HIDDEN,
            epochs=epochs,
            batch_size=BATCH,
            learning_rate=LR,
            seed=seed,
            initial_model=initial_model,
        )
        return model

    teacher_model = fit(x_tgt, y_tgt, 10, TEACHER_EPOCHS)
    teacher = np.argmax(teacher_model.predict(x_pool, batch_size=1024, verbose=0), 1)
    out = {
        "teacher_accuracy": accuracy(teacher_model, x_test, y_test),
        "teacher_agreement": float(np.mean(teacher == weak)),
        "scores": {},
    }
    for strategy in STRATEGIES:
        initial = None
        if strategy != "none":
            labels, label_map = relabel(weak, teacher, strategy, MIN_COUNT, num_classes=10)
            keep = labels >= 0
            base = fit(x_pool[keep], labels[keep], label_map.num_classes, PRETRAIN_EPOCHS)
            initial = with_new_head(base, 10, seed)
            if strategy == "spl":
                out["spl_classes"] = label_map.num_classes
        model = fit(x_tgt, y_tgt, 10, FINETUNE_EPOCHS, initial)
        out["scores"][strategy] = accuracy(model, x_test, y_test)
        log(f"noise {noise} seed {seed}: {strategy:9s} test top-1 {out['scores'][strategy]:.4f}")
        if shown is not None:
            shown.update(1)
    return out


def mean_std(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4)}


def paper_order(means: dict) -> dict:
    """Whether our means follow the paper's ordering, with spl and spl_b each
    standing in for the paper's SPL."""
    result = {}
    for spl_variant in ("spl", "spl_b"):
        order = (spl_variant, *PAPER_ORDER[1:])
        pairs = {
            f"{a} > {b}": bool(means[a] > means[b]) for a, b in zip(order, order[1:], strict=False)
        }
        result[spl_variant] = {"holds": all(pairs.values()), "pairs": pairs}
    result["spl_first"] = bool(max(means, key=means.get) in ("spl", "spl_b"))
    return result


def main() -> None:
    start = time.time()
    progress.show_lines()
    results, teacher_acc, agreement, spl_classes, order = {}, {}, {}, {}, {}
    # One bar over the whole sweep (noises x seeds x strategies), not one per noise.
    with progress.Progress(
        "spl digits", len(NOISES) * len(SEEDS) * len(STRATEGIES), "run"
    ) as shown:
        for noise in NOISES:
            runs = []
            for seed in SEEDS:
                shown.update(0, noise=str(noise), seed=seed)
                runs.append(run_seed(noise, seed, shown))
            key = str(noise)
            results[key] = {
                s: {
                    **mean_std([r["scores"][s] for r in runs]),
                    "runs": [round(r["scores"][s], 4) for r in runs],
                }
                for s in STRATEGIES
            }
            teacher_acc[key] = mean_std([r["teacher_accuracy"] for r in runs])
            agreement[key] = round(float(np.mean([r["teacher_agreement"] for r in runs])), 4)
            spl_classes[key] = float(np.mean([r["spl_classes"] for r in runs]))
            order[key] = paper_order({s: results[key][s]["mean"] for s in STRATEGIES})
            log(
                f"noise {noise}: "
                + ", ".join(f"{s} {results[key][s]['mean']:.4f}" for s in STRATEGIES)
            )
    print(
        json.dumps(
            {
                "setting": {
                    "data": "sklearn digits",
                    "test": TEST,
                    "target_per_class": TARGET_PER_CLASS,
                    "pool": f"the rest, in bags of {BAG_SIZE} with {NUM_RELATED} related "
                    "classes per query",
                    "network": f"MLP {list(HIDDEN)}",
                    "epochs": {
                        "teacher": TEACHER_EPOCHS,
                        "pretrain": PRETRAIN_EPOCHS,
                        "finetune": FINETUNE_EPOCHS,
                    },
                    "min_count": MIN_COUNT,
                },
                "seeds": list(SEEDS),
                "results": results,
                "teacher_accuracy": teacher_acc,
                "teacher_agreement": agreement,
                "spl_classes": spl_classes,
                "paper_order": order,
                "wall_s": round(time.time() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
