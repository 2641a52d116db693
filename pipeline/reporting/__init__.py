"""Reports read from the topics: `pipeline outcomes` counts the outcomes topic per project."""
