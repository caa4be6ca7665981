"""Where the fine-tuned encoder lived before ``stance.model``: runs saved then name it here in
their pickles. New code imports :mod:`stance.model.finetune`."""

from stance.model.finetune import *  # noqa: F401,F403
