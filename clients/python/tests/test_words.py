"""A round trip of real embeddings (the shared words data: GloVe 100d and word2vec 300d of 7,898
words), opt-in by presence: LATENTBRIDGE_WORDS_DIR names the folder.

Fit GloVe → word2vec through the client on 2,000 anchor words, translate the other words, and
check that their top-1 (by cosine among the held-out words' native word2vec vectors) is the same
as what the HTTP API's JSON form gives.
"""

from __future__ import annotations

import base64
import os
import unittest

import numpy as np

from tests.support import client, raw_json, service_url, unique

WORDS_VARIABLE = "LATENTBRIDGE_WORDS_DIR"
ANCHORS = 2000


def load_words(folder: str):
    ids = [line for line in open(os.path.join(folder, "ids.txt"), encoding="utf-8").read().split("\n") if line]
    glove = np.fromfile(os.path.join(folder, "glove100.f32"), dtype="<f4").reshape(len(ids), 100)
    word2vec = np.fromfile(os.path.join(folder, "word2vec300.f32"), dtype="<f4").reshape(len(ids), 300)
    return ids, glove, word2vec


def top1(translated: np.ndarray, targets: np.ndarray) -> np.ndarray:
    a = translated / np.linalg.norm(translated, axis=1, keepdims=True)
    b = targets / np.linalg.norm(targets, axis=1, keepdims=True)
    return np.argmax(a @ b.T, axis=1)


class WordsTest(unittest.TestCase):
    def test_glove_to_word2vec_round_trip(self) -> None:
        service_url()
        folder = os.environ.get(WORDS_VARIABLE, "")
        if folder == "" or not os.path.exists(os.path.join(folder, "word2vec300.f32")):
            self.skipTest(f"{WORDS_VARIABLE} does not name the words data folder")
        ids, glove, word2vec = load_words(folder)
        lb = client()
        source, target, words = unique("glove"), unique("word2vec"), unique("words")
        lb.create_space(source, 100)
        lb.create_space(target, 300)
        lb.create_anchor_set(words, ids)
        anchors = np.sort(np.random.default_rng(0).choice(len(ids), ANCHORS, replace=False))
        held = np.setdiff1d(np.arange(len(ids)), anchors)
        # Every GloVe row (binary, in the set's order), word2vec for the anchors only (JSON, with ids):
        # the parallel anchors are the ids both hold.
        lb.upload_embeddings(words, source, glove)
        lb.upload_embeddings(words, target, word2vec[anchors], ids=[ids[i] for i in anchors])
        translator = lb.fit(source, target, words, holdout=0)
        self.assertEqual(translator["anchorsUsed"], ANCHORS)

        ours = lb.translate(source, target, glove[held])
        data = base64.b64encode(np.ascontiguousarray(glove[held], dtype="<f4").tobytes()).decode()
        status, answer = raw_json("POST", "/v1/translate", {
            "source": source, "target": target, "encodingFormat": "base64",
            "vectors": {"dtype": "float32", "shape": [len(held), 100], "data": data}})
        self.assertEqual(status, 200)
        theirs = np.frombuffer(base64.b64decode(answer["vectors"]["data"]), dtype="<f4").reshape(len(held), 300)
        ours_top1 = top1(ours, word2vec[held])
        np.testing.assert_array_equal(ours_top1, top1(theirs, word2vec[held]))
        accuracy = float(np.mean(ours_top1 == np.arange(len(held))))
        print(f"\nwords: {len(held)} held-out words, GloVe -> word2vec top-1 {accuracy:.3f}")
        # A map that learnt nothing would be near 1/5898; procrustes on 2,000 words is far above it.
        self.assertGreater(accuracy, 0.2)
        lb.delete_space(source, cascade=True)
        lb.delete_space(target, cascade=True)
        lb.delete_anchor_set(words)
