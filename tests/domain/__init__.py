"""Pure rules, no server and no database."""
