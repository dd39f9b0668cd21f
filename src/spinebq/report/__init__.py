"""Writers of results: JSON/CSV files and pictures."""
