"""The shared app layer: a `Task` base that every app subclasses.

Example:

>>> from dlkeras.tasks import Task, load_task
>>> Task.recipe
'fit_one_cycle'
"""

from dlkeras.tasks.run_folder import load_task
from dlkeras.tasks.task import FASTAI_ADAM, Task

__all__ = ["FASTAI_ADAM", "Task", "load_task"]
