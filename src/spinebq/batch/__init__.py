"""Cohort batch: discovery of studies, the run ledger, the Dask engine, the cohort table and the QC page."""
