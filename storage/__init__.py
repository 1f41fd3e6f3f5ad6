"""SQLModel tables, migrations, state rules, queries, roster import/export and the demo district."""
