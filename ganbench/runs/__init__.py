"""Runs: the run folder's layout, suites of jobs, the worker that runs one task, locks, atomic files and
the executors that place tasks (local processes, Ray, Slurm)."""
