"""Background jobs: `Jobs` (taskiq broker, worker, schedules) and `enqueue` (after commit).

The public names live here; `runner` holds the broker and worker, `buffer` the request's
unit-of-work side, `schedule` the locked interval schedules, `payload` the JSON checks.
"""

from edgelab.core.jobs.buffer import (
    JobBuffer,
    current_buffer,
    enqueue,
    session_unit_of_work,
    unit_of_work_jobs,
)
from edgelab.core.jobs.runner import Jobs, current_job_id
from edgelab.core.jobs.schedule import Schedule

__all__ = [
    "JobBuffer",
    "Jobs",
    "Schedule",
    "current_buffer",
    "current_job_id",
    "enqueue",
    "session_unit_of_work",
    "unit_of_work_jobs",
]
