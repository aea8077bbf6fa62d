"""The shared app layer: a `Task` base that every app subclasses.

Example:

>>> from dlkeras.tasks import Task, load_task
>>> Task.recipe
'fit_one_cycle'
"""

from dlkeras.tasks.run_folder import load_task
from dlkeras.tasks.task import Task

__all__ = ["Task", "load_task"]
