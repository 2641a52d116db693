"""HTTP fetching for the symbolicate stage, guarded against private networks.

Import from the modules (``fetcher``, ``addresses``, ``origins``, ``breaker``): this package
stays light because the settings import it.
"""
