"""Typed records of every result spinebq produces, with ``to_json``/``from_json`` for their documents."""
