"""Where runs lived before ``stance.model``: runs saved then name ``StanceModel`` here in their
pickles, so the old names keep working. New code imports :mod:`stance.model.runs`."""

from stance.model.runs import *  # noqa: F401,F403
from stance.model.runs import Run, RunError, load_run  # noqa: F401
from stance.model.stance_model import StanceModel, aligned_proba  # noqa: F401
