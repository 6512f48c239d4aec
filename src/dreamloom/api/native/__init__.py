"""dreamloom's own endpoints, for what the useapi.net v3 API has no place for: creating users
(the operator's token) and serving image files."""
