"""frontier.schemas: custom artifact types and the data-set contract between components."""
