"""The routing classifier: a second opinion learnt from labelled requests (issue 19).

scikit-learn over character n-grams and jieba words, a logistic regression, and one temperature
fitted on a validation slice so its probabilities can be read as confidences. Nothing is
downloaded: the corpus ships in hotline/data/routing/ and the model is trained from it.

The five district governments publish one shared list, so the model learns one class for them,
DISTRICT; the blender maps it to the government of the request's district.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import jieba
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from hotline.domain.codes import DISTRICTS
from hotline.domain.routing.tokenizer import normalise

CORPUS_DIR = Path(__file__).resolve().parents[2] / "data" / "routing"
DISTRICT = "DISTRICT"  # the one label of the five district governments (their codes are the districts')
SEED = 19
C = 8.0  # little regularisation: the corpus is clean and the phrasings are short
VALIDATION_SHARE = 0.15
FEATURES_VERSION = 2  # bump when features() or the solver changes: part of every model version


def label_of(unit: str) -> str:
    return DISTRICT if unit in DISTRICTS else unit


def jieba_words(text: str) -> list[str]:
    """jieba's cut (module level so a saved pipeline pickles by reference)."""
    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(text, HMM=False) if w.strip()]


def prepare(text: str, category: str | None) -> str:
    # The category is a hint (a consultation about 低保 vs a complaint about 物业), kept as a
    # token the char n-grams do not cross.
    return f"{normalise(text)} _{category or 'none'}_"


def features() -> FeatureUnion:
    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                  min_df=1)),
        ("words", TfidfVectorizer(tokenizer=jieba_words, token_pattern=None, lowercase=False,
                                  sublinear_tf=True)),
    ])


@dataclass
class RoutingModel:
    version: str
    pipeline: Pipeline
    temperature: float
    meta: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.pipeline.classes_)

    _fast: "_FastScorer | None" = None

    def predict(self, text: str, category: str | None = None) -> dict[str, float]:
        """Calibrated probability per label (unit code, or DISTRICT)."""
        if self._fast is None:
            self._fast = _FastScorer(self.pipeline)
        logits = self._fast.logits(prepare(text, category))
        # not strict: a two-class linear model scores one column for its two classes, and pairs as it always has
        return dict(zip(self.classes, _softmax(logits / self.temperature), strict=False))

    def __getstate__(self):
        return {**self.__dict__, "_fast": None}


class _FastScorer:
    """The fitted pipeline's decision function for one text without sklearn's per-call
    overhead (4 ms down to ~0.1 ms): the same n-grams, sublinear tf-idf, l2 norm and weights."""

    def __init__(self, pipe: Pipeline):
        chars, words = (t for _, t in pipe.named_steps["features"].transformer_list)
        clf = pipe.named_steps["clf"]
        self.char_vocab, self.char_idf = chars.vocabulary_, chars.idf_
        self.word_vocab, self.word_idf = words.vocabulary_, words.idf_
        self.offset = len(chars.vocabulary_)
        self.coef_t = np.ascontiguousarray(clf.coef_.T)
        self.intercept = clf.intercept_

    @staticmethod
    def _part(grams: list[str], vocab: dict, idf, offset: int) -> tuple[list[int], np.ndarray]:
        counts: dict[int, int] = {}
        for g in grams:
            j = vocab.get(g)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return [], np.zeros(0)
        idx = list(counts)
        vals = np.array([(1 + math.log(counts[j])) * idf[j] for j in idx])
        vals /= np.linalg.norm(vals)
        return [j + offset for j in idx], vals

    def logits(self, doc: str) -> np.ndarray:
        text = re.sub(r"\s\s+", " ", doc.lower())
        grams = [text[i:i + n] for n in (1, 2, 3) for i in range(len(text) - n + 1)]
        ci, cv = self._part(grams, self.char_vocab, self.char_idf, 0)
        wi, wv = self._part(jieba_words(doc), self.word_vocab, self.word_idf, self.offset)
        idx = ci + wi
        if not idx:
            return self.intercept.copy()
        return np.concatenate([cv, wv]) @ self.coef_t[idx] + self.intercept


def corpus_rows(name: str = "train.jsonl") -> list[dict]:
    with (CORPUS_DIR / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def model_version(rows: list[dict], weights: list[float]) -> str:
    """Same examples, same features: same version (and the same model, byte for byte)."""
    h = hashlib.sha256(f"f{FEATURES_VERSION}:C{C}:s{SEED}".encode())
    for r, w in sorted(zip(rows, weights, strict=True), key=lambda x: (x[0]["text"], x[0]["unit"])):
        h.update(f"{r['text']}\t{r.get('category')}\t{label_of(r['unit'])}\t{w}\n".encode())
    return "rm-" + h.hexdigest()[:10]


def train(rows: list[dict], weights: list[float] | None = None) -> RoutingModel:
    """Fit on rows ({text, category, unit}); the temperature comes from a validation slice,
    then the pipeline is refitted on everything. Deterministic for the same rows."""
    weights = weights or [1.0] * len(rows)
    rng = random.Random(SEED)
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["text"], rows[i]["unit"]))
    rng.shuffle(order)
    n_val = int(len(order) * VALIDATION_SHARE)
    val, fit = order[:n_val], order[n_val:]
    probe = _fit([rows[i] for i in fit], [weights[i] for i in fit])
    temperature = _temperature(probe, [rows[i] for i in val])
    pipe = _fit([rows[i] for i in order], [weights[i] for i in order])
    labels = sorted({label_of(r["unit"]) for r in rows})
    meta = {"examples": len(rows), "labels": labels, "seed": SEED, "C": C,
            "temperature": temperature}
    return RoutingModel(model_version(rows, weights), pipe, temperature, meta)


def _fit(rows: list[dict], weights: list[float]) -> Pipeline:
    pipe = Pipeline([
        ("features", features()),
        # sag, not the default lbfgs: the same held-out accuracy in ~1.5 s instead of ~12 s
        # per fit, so a fresh checkout trains its base model in a few seconds.
        ("clf", LogisticRegression(C=C, solver="sag", tol=1e-3, max_iter=3000, random_state=SEED)),
    ])
    x = [prepare(r["text"], r.get("category")) for r in rows]
    y = [label_of(r["unit"]) for r in rows]
    pipe.fit(x, y, clf__sample_weight=np.asarray(weights, dtype=float))
    return pipe


def _temperature(pipe: Pipeline, rows: list[dict]) -> float:
    """The temperature minimising the validation log-loss (a coarse grid is plenty)."""
    if not rows:
        return 1.0
    classes = list(pipe.classes_)
    logits = pipe.decision_function([prepare(r["text"], r.get("category")) for r in rows])
    best, best_t = math.inf, 1.0
    for t in [0.2 + 0.05 * i for i in range(57)]:  # 0.2 .. 3.0
        loss = 0.0
        for row, z in zip(rows, logits, strict=True):
            label = label_of(row["unit"])
            p = _softmax(z / t)
            loss -= math.log(max(p[classes.index(label)], 1e-9)) if label in classes else 0.0
        if loss < best - 1e-9:
            best, best_t = loss, round(t, 2)
    return best_t


def _softmax(z) -> list[float]:
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max())
    return (e / e.sum()).tolist()
