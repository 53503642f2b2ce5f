"""The wire faces: thin servicers, proto <-> domain conversion, one error table. No torch here."""
