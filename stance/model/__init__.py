"""The trained model's home: run directories and their signatures, the model a run holds
(``StanceModel``, or its portable arrays), the sentence encoders' use in it (embeddings,
fine-tuned heads, backends) and the float32 recheck of int8 near-ties.

Scoring, serving and findings load models from here, never from ``stance.experiments``,
which trains them."""
