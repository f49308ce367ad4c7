"""frontier.pipelines."""
