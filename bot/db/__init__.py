"""Storage: SQLAlchemy 2 async models, engine, migrations and the queries the app needs."""
