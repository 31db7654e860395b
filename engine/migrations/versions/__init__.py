"""The schema's revisions, oldest first: r0001 is the schema of the first release."""
