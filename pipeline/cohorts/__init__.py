"""Receive-time cohorts: how many events of each cohort every stage took, finished and holds."""
