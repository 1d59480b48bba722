"""Task families (QA, classification, multiple choice, retrieval), their shared padding, and the task registry."""
