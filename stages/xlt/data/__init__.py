"""Data sets: readers, splits by the unit of independence, derived English tasks, Hub loaders."""
