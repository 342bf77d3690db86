"""Event transforms in tonic's manner: frozen dataclasses over a functional core."""
