"""HTTP fetching for the symbolicate stage, guarded against private networks."""
