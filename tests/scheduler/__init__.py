"""Tests of the scheduler: the engine under a controlled clock, each kind of job, the tick and its leadership."""
