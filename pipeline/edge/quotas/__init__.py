"""Per-project and per-key event quotas for the edge (issue 9, part 3).

The edge builds one quota at start-up and asks it about every event before producing it::

    from pipeline.edge.quotas.counters import refusal_headers
    from pipeline.edge.quotas.factory import make_quota
    from pipeline.edge.quotas.outcomes import rate_limited_outcomes

    quota = make_quota(settings.edge.quotas, settings.edge.redis_url, registry)
    decision = await quota.check(project_id, public_key, "error", 1)
    if not decision.allowed:
        # 429 with refusal_headers(decision): Retry-After and X-Sentry-Rate-Limits
        records = rate_limited_outcomes(outcomes, decision, event_ids=[event_id], ...)

Counts live in this process (``memory.InProcessQuota``) unless ``edge.redis_url`` is set, when
every replica shares them in Redis (``redis_backend.RedisQuota``; close it at exit). The
modules are imported one by one: pipeline.config imports the settings from here.
"""
