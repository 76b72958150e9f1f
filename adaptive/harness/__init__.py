"""The evaluation harness: episodes of agents against injected environments, in parallel on dask."""

from adaptive.harness.episode import EpisodeResult, run_episode
from adaptive.harness.evaluate import evaluate
from adaptive.harness.tasks import TASKS, Environment, task_factory

__all__ = ["TASKS", "Environment", "EpisodeResult", "evaluate", "run_episode", "task_factory"]
