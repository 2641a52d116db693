"""topics.yaml against a cluster: spec validates the file, plan diffs it (pure), admin does the
Kafka I/O, sync runs plan and apply end to end."""
