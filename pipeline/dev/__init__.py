"""`pipeline dev`: broker, topics, demo artifacts, the stages as subprocesses, a load generator
and a live status table scraped from each stage's /metrics (``session.run_stages``)."""
