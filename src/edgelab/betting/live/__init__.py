"""The live loop: value betting that runs itself (odds, closing lines, scoring, alerts, results,
settlement), as scheduled jobs.

* `plan`: the pure part: what a call costs, when the next fetch is due, the quota's pace.
* `models`: `loop_runs`, one row per run that did something (or failed).
* `runs`: recording runs and reading back the loop's state (last fetch, failures, quota).
* `closes`: a started game's last pre-tip quote of each book kept as that book's close.
* `odds_poll`, `scores_poll`: the two jobs' bodies; `jobs`: their registration and schedules.
* `service`, `schemas`, `router`: `GET /admin/runs` and the `/health` section.
"""
