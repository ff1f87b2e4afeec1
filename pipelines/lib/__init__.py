"""Plain Python the Dagster assets call. Importable and testable without Dagster."""
